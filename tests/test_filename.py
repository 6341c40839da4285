"""wheels.filename: wheel filenames parsed with packaging, lenient about legacy versions."""

from __future__ import annotations

import pytest

from wheelmeta.errors import InvalidWheel
from wheelmeta.wheels.filename import is_wheel_filename, parse_wheel_filename


def test_name_is_canonical_and_tags_are_expanded():
    wf = parse_wheel_filename("dist/Foo_Bar-1.0-py2.py3-none-any.whl")
    assert wf.name == "foo-bar" and wf.version == "1.0"
    assert sorted(str(t) for t in wf.tags) == ["py2-none-any", "py3-none-any"]


def test_build_tag_is_split_into_number_and_text():
    assert parse_wheel_filename("foo-1.0-12abc-cp311-cp311-manylinux_2_17_x86_64.whl").build == (12, "abc")


def test_platforms_of_a_compressed_tag_set():
    wf = parse_wheel_filename("np-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert wf.platforms == {"manylinux_2_17_x86_64", "manylinux2014_x86_64"}


def test_a_legacy_version_is_kept_as_written():
    assert parse_wheel_filename("old-1.0.custom-py3-none-any.whl").version == "1.0.custom"


@pytest.mark.parametrize("name", ["foo-1.0.zip", "foo-1.0.whl", "foo-1.0-x-y-z-w-v.whl", "foo-1.0-abc-py3-none-any.whl"])
def test_not_a_wheel_filename_is_an_invalid_wheel(name):
    with pytest.raises(InvalidWheel, match=name.replace(".", r"\.")):
        parse_wheel_filename(name)
    assert not is_wheel_filename(name)


@pytest.mark.parametrize("name", ["demo-1.0-py3..cp37-none-any.whl", "demo-1.0-py3-.none-any.whl",
                                  "demo-1.0-py3-none-linux_x86_64..any.whl"])
def test_a_compressed_tag_set_with_an_empty_component_is_an_invalid_wheel(name):
    with pytest.raises(InvalidWheel, match="empty component"):
        parse_wheel_filename(name)


@pytest.mark.parametrize("name", ["demo-" + "1" * 5000 + "-py3-none-any.whl",
                                  "demo-1.0-" + "9" * 5000 + "-py3-none-any.whl"], ids=["version", "build"])
def test_a_number_too_long_for_int_is_an_invalid_wheel_or_kept_as_written(name):
    try:
        parsed = parse_wheel_filename(name)
    except InvalidWheel as exc:
        assert "\n" not in str(exc)
    else:
        assert parsed.version == "1" * 5000
