"""index/provider.py: which file is chosen for a requirement on a target, against a real index on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional

import pytest
from builders import make_sdist, make_wheel, metadata_text
from indexserver import IndexServer

from wheelmeta.errors import NoMatchingDistribution, UsageError
from wheelmeta.errors import SettingsFileError
from wheelmeta.http import HttpClient
from wheelmeta.index.constraints import Constraints
from wheelmeta.index.provider import Preference, choose, group_rejections
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
            requires_python: Optional[Dict[str, str]] = None, fmt="auto", constraints: Iterable[str] = ()):
    """choose() against a real index of ``files``, bound by the constraints lines given (none by default: this
    machine's pip configuration is not the test's)."""
    folder = _index(tmp_path / "index", files)
    constraint_file = tmp_path / "constraints.txt"
    constraint_file.write_text("\n".join(constraints))
    with IndexServer(folder, fmt=fmt, yanked=yanked, requires_python=requires_python) as server:
        client = IndexClient([server.index_url], client=HttpClient(retries=0))
        return choose(requirement, target, preference, client, Constraints.from_files([str(constraint_file)]))


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


def test_nothing_fits_carries_the_rejections_as_data_and_names_no_cli_flag(tmp_path):
    with pytest.raises(NoMatchingDistribution) as info:
        _choose(tmp_path, ["demo 1.0 cp312-cp312-win_amd64", "demo 2.0 sdist"], "demo<2", GLIBC_228)
    assert "--" not in str(info.value)
    assert sorted(d.filename for d, _ in info.value.rejected) == ["demo-1.0-cp312-cp312-win_amd64.whl",
                                                                   "demo-2.0.tar.gz"]


def test_rejections_are_grouped_by_reason_biggest_group_first_newest_first(tmp_path):
    files = ["demo 1.0 cp27-cp27mu-manylinux1_x86_64", "demo 3.0 cp27-cp27mu-manylinux1_x86_64",
             "demo 2.0 cp27-cp27mu-manylinux1_x86_64", "demo 4.0 sdist", "demo 0.5 py3-none-any"]
    groups = group_rejections(_choose(tmp_path, files, "demo<4", GLIBC_228).rejected)
    assert [(g.reason, [d.filename for d, _ in g.files]) for g in groups] == [
        ("no tag fits the target cp312 (cp312) on manylinux_2_28_x86_64",
         [f"demo-{v}-cp27-cp27mu-manylinux1_x86_64.whl" for v in ("3.0", "2.0", "1.0")]),
        ("version does not match <4", ["demo-4.0.tar.gz"]),
    ]


# -- markers and constraints ------------------------------------------------------------------------------------------


def test_requirement_whose_marker_is_false_is_not_needed(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 py3-none-any"], 'demo; sys_platform == "win32"', GLIBC_228)
    assert (choice.needed, choice.file) == (False, None)
    assert choice.reason == ('not needed: marker sys_platform == "win32" is false on '
                             "cp312 (cp312) on manylinux_2_28_x86_64")


def test_requirement_whose_marker_holds_is_chosen(tmp_path):
    choice = _choose(tmp_path, ["demo 1.0 py3-none-any"], 'demo; python_version >= "3.12"', GLIBC_228)
    assert choice.needed and choice.file.filename == "demo-1.0-py3-none-any.whl"


@pytest.mark.parametrize("marker", ["python_version ~= 'a'", "'a' == 'a'", f"python_version == '{'9' * 5000}'"])
def test_marker_that_cannot_be_evaluated_is_a_usage_error_naming_the_requirement(tmp_path, marker):
    with pytest.raises(UsageError, match="cannot evaluate its marker") as info:
        _choose(tmp_path, ["demo 1.0 py3-none-any"], f"demo; {marker}", GLIBC_228)
    assert str(info.value).startswith("demo; ")


def test_constraint_excludes_versions_the_requirement_allows(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"]
    choice = _choose(tmp_path, files, "demo", GLIBC_228, constraints=["demo<2"])
    assert choice.file.filename == "demo-1.0-py3-none-any.whl"
    assert _reason_for(choice, "demo-2.0-py3-none-any.whl").startswith("version 2.0 excluded by constraint demo<2 (")
    assert "constrained by demo<2" in choice.reason


def test_constraint_whose_marker_is_false_on_the_target_does_not_bind(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"]
    choice = _choose(tmp_path, files, "demo", GLIBC_228, constraints=['demo<2; sys_platform == "win32"'])
    assert choice.file.filename == "demo-2.0-py3-none-any.whl"


def test_constraint_naming_a_prerelease_admits_prereleases(tmp_path):
    files = ["demo 1.0 py3-none-any", "demo 2.0rc1 py3-none-any"]
    choice = _choose(tmp_path, files, "demo", GLIBC_228, constraints=["demo>=2.0rc1"])
    assert choice.file.filename == "demo-2.0rc1-py3-none-any.whl"


def test_pips_configured_constraints_bind_by_default(tmp_path, monkeypatch):
    """choose() without constraints reads pip's configuration, as pip does (here a config file of the test's own)."""
    folder = _index(tmp_path / "index", ["demo 1.0 py3-none-any", "demo 2.0 py3-none-any"])
    (tmp_path / "constraints.txt").write_text("demo==1.0\n")
    (tmp_path / "pip.conf").write_text(f"[global]\nconstraint = {tmp_path / 'constraints.txt'}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "pip.conf"))
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    with IndexServer(folder) as server:
        choice = choose("demo", GLIBC_228, client=IndexClient([server.index_url], client=HttpClient(retries=0)))
    assert choice.file.filename == "demo-1.0-py3-none-any.whl"


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


@pytest.mark.parametrize("content", ["[providers\n", '[providers]\ndemo = "conda"\n', "[providers]\ndemo = 5\n",
                                     "providers = 3\n"])
def test_providers_file_with_unusable_content_is_a_settings_error_naming_it(tmp_path, content):
    toml = tmp_path / "providers.toml"
    toml.write_text(content)
    with pytest.raises(SettingsFileError, match=str(toml)) as info:
        Preference.from_toml(str(toml))
    assert info.value.exit_code == 1


def test_missing_providers_file_is_a_usage_error():
    with pytest.raises(UsageError, match="nothere.toml: no such providers file"):
        Preference.from_toml("nothere.toml")


def test_a_provider_value_nested_deeply_is_one_error_not_a_recursion(tmp_path):
    """Found by the fuzz harness: the error message took the repr of the value, which recursed past the limit."""
    from wheelmeta.tomlfile import parse_toml

    def nested(depth: int) -> str:
        return "[providers]\nnumpy = " + "[" * depth + "]" * depth + "\n"

    # as deep as the TOML reader still reads: the repr of the value is then deeper than Python can recurse
    depth = next(d for d in range(2000, 0, -10) if _parses(parse_toml, nested(d)))
    toml = tmp_path / "providers.toml"
    toml.write_text(nested(depth))
    with pytest.raises(SettingsFileError, match="providers.toml: .*not a list holding list"):
        Preference.from_toml(str(toml))


def _parses(parse_toml, text: str) -> bool:
    try:
        parse_toml(text, "x", SettingsFileError)
    except SettingsFileError:
        return False
    return True
