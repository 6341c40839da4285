"""index/provider.py: which file is chosen for a requirement on a target, against a real index on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional

import pytest
from builders import make_sdist, make_wheel, metadata_text
from indexserver import IndexServer

from wheelmeta.errors import NoMatchingDistribution, UsageError
from wheelmeta.http import HttpClient
from wheelmeta.index.provider import Preference, choose
from wheelmeta.index.simple import IndexClient
from wheelmeta.target import Target

GLIBC_228 = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])
GLIBC_217 = Target.from_options(python_version="3.12", platforms=["manylinux_2_17_x86_64"])


def _index(folder: Path, files: Iterable[str]) -> Path:
    """Write each "name version tag" (a wheel) or "name version sdist" into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in files:
        name, version, tag = spec.split()
        if tag == "sdist":
            make_sdist(folder, name, version, files={"PKG-INFO": metadata_text(name, version)})
        else:
            make_wheel(folder, name, version, tag=tag)
    return folder


def _choose(tmp_path, files, requirement, target, preference=None, *, yanked: Optional[Dict[str, str]] = None,
            requires_python: Optional[Dict[str, str]] = None, fmt="auto"):
    folder = _index(tmp_path / "index", files)
    with IndexServer(folder, fmt=fmt, yanked=yanked, requires_python=requires_python) as server:
        client = IndexClient([server.index_url], client=HttpClient(retries=0))
        return choose(requirement, target, preference, client)


def _reason_for(choice, filename: str) -> str:
    return dict((d.filename, why) for d, why in choice.rejected)[filename]


# -- tags ---------------------------------------------------------------------------------------------------------------


def test_manylinux_2_28_wheel_is_chosen_for_a_glibc_2_28_target(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 cp312-cp312-manylinux_2_28_x86_64", "demo 1.0 sdist"], "demo", GLIBC_228)
    assert choice.file.filename == "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert choice.file.sha256 and choice.file.kind == "wheel"


def test_manylinux_2_28_wheel_is_refused_for_a_glibc_2_17_target(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 cp312-cp312-manylinux_2_28_x86_64", "demo 1.0 sdist"], "demo", GLIBC_217)
    assert choice.file.kind == "sdist"
    assert "no tag fits" in _reason_for(choice, "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl")


def test_cp39_abi3_wheel_is_accepted_on_python_3_12(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 cp39-abi3-manylinux_2_17_x86_64"], "demo", GLIBC_228)
    assert choice.file.filename == "demo-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"


def test_legacy_manylinux2010_wheel_fits_a_manylinux_2_17_target(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 cp312-cp312-manylinux2010_x86_64"], "demo", GLIBC_217)
    assert choice.file.filename == "demo-1.0-cp312-cp312-manylinux2010_x86_64.whl"


def test_musllinux_wheel_is_refused_on_a_glibc_target(tmp_path):
    files = ["demo 1.0 cp312-cp312-musllinux_1_1_x86_64", "demo 1.0 sdist"]
    choice = _choose(tmp_path, files, "demo", GLIBC_228)
    assert choice.file.kind == "sdist"
    assert "no tag fits" in _reason_for(choice, "demo-1.0-cp312-cp312-musllinux_1_1_x86_64.whl")


def test_macos_arm64_wheel_is_refused_for_an_x86_64_mac(tmp_path):
    target = Target.from_options(python_version="3.12", platforms=["macosx_11_0_x86_64"])
    files = ["demo 1.0 cp312-cp312-macosx_11_0_arm64", "demo 1.0 cp312-cp312-macosx_10_9_x86_64"]
    choice = _choose(tmp_path, files, "demo", target)
    assert choice.file.filename == "demo-1.0-cp312-cp312-macosx_10_9_x86_64.whl"
    assert "no tag fits" in _reason_for(choice, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl")


def test_best_tag_wins_among_wheels_of_one_version(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 1.0 cp312-cp312-manylinux_2_17_x86_64",
             "demo 1.0 cp312-cp312-manylinux_2_28_x86_64"]
    choice = _choose(tmp_path, files, "demo", GLIBC_228)
    assert choice.file.filename == "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


# -- yanked, requires-python, versions -----------------------------------------------------------------------------------


def test_yanked_file_is_refused_without_a_pin(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"]
    choice = _choose(tmp_path, files, "demo", GLIBC_228, yanked={"demo-2.0-py3-none-any.whl": "broken"})
    assert str(choice.file.version) == "1.0"
    assert _reason_for(choice, "demo-2.0-py3-none-any.whl").startswith("yanked: broken")


def test_yanked_file_is_chosen_when_pinned_with_double_equals(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"]
    choice = _choose(tmp_path, files, "demo==2.0", GLIBC_228, yanked={"demo-2.0-py3-none-any.whl": "broken"})
    assert str(choice.file.version) == "2.0"


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_requires_python_excludes_files_for_the_target_python(tmp_path, fmt):
    files = ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"]
    target = Target.from_options(python_version="3.7", platforms=["manylinux_2_17_x86_64"])
    choice = _choose(tmp_path, files, "demo", target, requires_python={"demo-2.0-py3-none-any.whl": ">=3.8"},
                     fmt=fmt)
    assert str(choice.file.version) == "1.0"
    assert "requires Python >=3.8" in _reason_for(choice, "demo-2.0-py3-none-any.whl")


def test_version_specifier_filters_candidates(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"]
    choice = _choose(tmp_path, files, "demo<2", GLIBC_228)
    assert str(choice.file.version) == "1.0"
    assert "does not match <2" in _reason_for(choice, "demo-2.0-py3-none-any.whl")


def test_prereleases_only_when_asked_or_alone(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0rc1 py3-none-any"]
    assert str(_choose(tmp_path / "a", files, "demo", GLIBC_228).file.version) == "1.0"
    assert str(_choose(tmp_path / "b", files, "demo>=2.0rc1", GLIBC_228).file.version) == "2.0rc1"
    assert str(_choose(tmp_path / "c", ["demo 2.0rc1 py3-none-any"], "demo", GLIBC_228).file.version) == "2.0rc1"


def test_nothing_fits_is_one_clear_error(tmp_path):
    with pytest.raises(NoMatchingDistribution, match=r"demo: none of 1 files fits .*1 no tag fits the target"):
        _choose(tmp_path, ["demo 1.0 cp312-cp312-win_amd64"], "demo", GLIBC_228)


# -- preferences ----------------------------------------------------------------------------------------------------------


NEWER_SDIST_ONLY = ["demo 1.0 cp312-cp312-manylinux_2_17_x86_64", "demo 1.0 sdist", "demo 2.0 sdist"]


def test_default_is_like_pip_newest_version_even_if_sdist_only(tmp_path):
    choice = _choose(tmp_path, NEWER_SDIST_ONLY, "demo", GLIBC_228)
    assert choice.file.filename == "demo-2.0.tar.gz"


def test_prefer_wheels_chooses_an_older_version_with_a_wheel(tmp_path):
    choice = _choose(tmp_path, NEWER_SDIST_ONLY, "demo", GLIBC_228, Preference.prefer_wheels())
    assert choice.file.filename == "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    assert "a wheel fits" in _reason_for(choice, "demo-2.0.tar.gz")


def test_default_takes_the_wheel_over_the_sdist_at_the_same_version(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 cp312-cp312-manylinux_2_17_x86_64", "demo 1.0 sdist"], "demo", GLIBC_228)
    assert choice.file.kind == "wheel"


def test_prefer_sdist_chooses_an_older_sdist_over_a_newer_wheel(tmp_path):
    files = ["demo 1.0 sdist", "demo 2.0 py3-none-any"]
    assert _choose(tmp_path / "a", files, "demo", GLIBC_228).file.filename == "demo-2.0-py3-none-any.whl"
    choice = _choose(tmp_path / "b", files, "demo", GLIBC_228, Preference.prefer_sdist())
    assert choice.file.filename == "demo-1.0.tar.gz"


def test_only_wheels_fails_when_no_wheel_fits(tmp_path):
    with pytest.raises(NoMatchingDistribution, match="providers wheel"):
        _choose(tmp_path, ["demo 1.0 sdist"], "demo", GLIBC_228, Preference.only_wheels())


def test_per_package_providers_mach_nix_style(tmp_path):
    files = NEWER_SDIST_ONLY + ["other 1.0 py3-none-any", "other 1.0 sdist"]
    folder = _index(tmp_path / "index", files)
    pref = Preference.from_specs(["demo=wheel", "_default=sdist,wheel"])
    with IndexServer(folder) as server:
        client = IndexClient([server.index_url], client=HttpClient(retries=0))
        assert choose("demo", GLIBC_228, pref, client).file.filename.endswith(".whl")
        assert choose("other", GLIBC_228, pref, client).file.filename == "other-1.0.tar.gz"


def test_providers_table_from_toml(tmp_path):
    toml = tmp_path / "providers.toml"
    toml.write_text('[providers]\n_default = "wheel,sdist"\nTensorFlow = ["sdist"]\n')
    pref = Preference.from_toml(str(toml))
    assert pref.kinds_for("tensorflow") == ("sdist",)
    assert pref.kinds_for("anything") == ("wheel", "sdist")


def test_pip_format_control_spellings():
    pref = Preference().with_pip_format_control(only_binary=[":all:"], no_binary=["Foo,bar"])
    assert pref.kinds_for("foo") == ("sdist",) and pref.kinds_for("baz") == ("wheel",)
    assert Preference().with_pip_format_control(no_binary=[":all:"]).kinds_for("x") == ("sdist",)


def test_unknown_provider_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown provider nixpkgs"):
        Preference.from_specs(["demo=nixpkgs"])
