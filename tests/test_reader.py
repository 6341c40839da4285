"""wheels.reader: a wheel's METADATA through its one .dist-info, and its top-level import names."""

from __future__ import annotations

import zipfile

import pytest
from builders import make_wheel, metadata_text

from wheelmeta.errors import InvalidWheel, MetadataError
from wheelmeta.sources import BytesSource
from wheelmeta.wheels.reader import read_wheel_metadata, top_level_modules


def test_metadata_of_a_wheel_with_markers(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", requires=["requests>=2; extra == 'http'"], extras=["http"],
                      requires_python=">=3.8")
    md = read_wheel_metadata(path)
    assert (md.name, md.version, md.provenance, md.source) == ("demo", "1.0", "wheel-metadata", str(path))
    assert [str(r) for r in md.requires_dist] == ['requests>=2; extra == "http"']
    assert str(md.requires_python) == ">=3.8" and md.provides_extra == ("http",) and md.problems == ()


def test_a_byte_source_without_a_filename_is_read_without_the_filename_checks(tmp_path):
    data = make_wheel(tmp_path, "demo", "1.0").read_bytes()
    assert read_wheel_metadata(BytesSource(data, "<memory>")).name == "demo"


def test_metadata_name_differing_from_the_filename_is_a_problem(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", metadata=metadata_text("Other-Name", "1.0"))
    md = read_wheel_metadata(path)
    assert md.problems == ("METADATA Name 'Other-Name' differs from the filename's 'demo'",)


def test_metadata_version_is_compared_normalized(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", metadata=metadata_text("demo", "1.0.0"),
                      filename="demo-1.0.0-py3-none-any.whl")
    assert read_wheel_metadata(path).problems == ()
    path = make_wheel(tmp_path, "demo", "1.0", metadata=metadata_text("demo", "2.0"),
                      filename="demo-1.0-py3-none-any.whl")
    assert read_wheel_metadata(path).problems == ("METADATA Version '2.0' differs from the filename's '1.0'",)


def test_a_long_description_is_not_needed_to_read_the_fields(tmp_path):
    body = "".join(f"line {i}: Requires-Dist: not-a-dependency\n" for i in range(20000))  # ~700 KB
    path = make_wheel(tmp_path, "demo", "1.0", metadata=metadata_text("demo", "1.0", ["six"]) + body)
    md = read_wheel_metadata(path)
    assert [str(r) for r in md.requires_dist] == ["six"] and md.problems == ()


def test_a_wheel_without_metadata_is_an_invalid_wheel(tmp_path):
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    with pytest.raises(InvalidWheel, match=r"demo-1.0-py3-none-any.whl: demo-1.0.dist-info/METADATA is missing"):
        read_wheel_metadata(path)


def test_metadata_without_a_version_is_a_metadata_error(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", metadata="Metadata-Version: 2.1\nName: demo\n")
    with pytest.raises(MetadataError, match="demo-1.0-py3-none-any.whl: metadata has no Version"):
        read_wheel_metadata(path)


def test_a_bad_wheel_filename_is_an_invalid_wheel(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", filename="demo.whl")
    with pytest.raises(InvalidWheel, match="demo.whl: not a wheel filename"):
        read_wheel_metadata(path)


def test_top_level_modules_come_from_top_level_txt(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", files={
        "demo-1.0.dist-info/top_level.txt": b"demo\n_demo_native\n\n",
        "demo/__init__.py": b"", "other/__init__.py": b"",
    })
    assert top_level_modules(path) == ["_demo_native", "demo"]


def test_top_level_modules_are_derived_from_members_without_top_level_txt(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", tag="cp311-cp311-linux_x86_64", files={
        "demo/__init__.py": b"",
        "demo/sub/x.py": b"",
        "single.py": b"",
        "_native.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "demo-1.0.data/purelib/extra_pkg/__init__.py": b"",
        "demo-1.0.data/scripts/tool": b"#!python",
        "not-a-module.txt": b"",
        "demo.pth": b"",
    })
    assert top_level_modules(path) == ["_native", "demo", "extra_pkg", "single"]


def test_import_names_of_metadata_2_5_win_over_top_level_txt(tmp_path):
    metadata = metadata_text("demo", "1.0", metadata_version="2.5",
                             extra_headers=["Import-Name: demo.core", "Import-Name: _demo_speedups; private"])
    path = make_wheel(tmp_path, "demo", "1.0", metadata=metadata, files={
        "demo-1.0.dist-info/top_level.txt": b"something_else\n", "demo/__init__.py": b"",
    })
    assert top_level_modules(path) == ["_demo_speedups", "demo"]


def test_an_empty_import_name_means_nothing_to_import(tmp_path):
    metadata = metadata_text("demo", "1.0", metadata_version="2.5", extra_headers=["Import-Name:"])
    path = make_wheel(tmp_path, "demo", "1.0", metadata=metadata, files={"demo/__init__.py": b""})
    assert top_level_modules(path) == []
