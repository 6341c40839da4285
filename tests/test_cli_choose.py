"""`wheelmeta choose`: output, options and exit codes, against a real index on 127.0.0.1."""

from __future__ import annotations

import json
import os

import pytest
from builders import make_sdist, make_wheel, metadata_text
from indexserver import IndexServer

from wheelmeta.cli import main

TARGET = ["--python-version", "3.7", "--platform", "manylinux2010_x86_64"]


@pytest.fixture(autouse=True)
def no_pip_config(monkeypatch):
    """Only the indexes a test names: no pip config files, no PIP_* variables of this machine."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "index"
    make_wheel(folder, "tensorflow", "2.1.0", tag="cp37-cp37m-manylinux2010_x86_64")
    make_wheel(folder, "tensorflow", "2.1.0", tag="cp36-cp36m-manylinux2010_x86_64")
    make_sdist(folder, "tensorflow", "2.2.0", files={"PKG-INFO": metadata_text("tensorflow", "2.2.0")})
    with IndexServer(folder) as running:
        yield running


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_is_one_array_with_the_chosen_file(server, capsys):
    out = _json(capsys, ["choose", "tensorflow==2.1.0", "--json", "-i", server.index_url, *TARGET])
    assert len(out) == 1
    chosen = out[0]
    assert chosen["filename"] == "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"
    assert chosen["sha256"] == server.sha256(chosen["filename"])
    assert chosen["url"] == f"{server.file_url(chosen['filename'])}#sha256={chosen['sha256']}"
    assert (chosen["kind"], chosen["version"]) == ("wheel", "2.1.0")
    assert chosen["size"] == os.path.getsize(server.folder / chosen["filename"])
    assert "rejected" not in chosen


def test_explain_lists_every_rejected_file_with_its_reason(server, capsys):
    out = _json(capsys, ["choose", "tensorflow==2.1.0", "--json", "--explain", "-i", server.index_url, *TARGET])
    reasons = {r["filename"]: r["reason"] for group in out[0]["rejected"] for r in group["files"]}
    assert set(reasons) == {"tensorflow-2.1.0-cp36-cp36m-manylinux2010_x86_64.whl", "tensorflow-2.2.0.tar.gz"}
    assert "does not match ==2.1.0" in reasons["tensorflow-2.2.0.tar.gz"]
    assert "no tag fits" in reasons["tensorflow-2.1.0-cp36-cp36m-manylinux2010_x86_64.whl"]


def test_text_output_names_file_url_and_sha256(server, capsys):
    assert main(["choose", "tensorflow", "--prefer-wheels", "--explain", "-i", server.index_url, *TARGET]) == 0
    out = capsys.readouterr().out
    name = "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"
    assert out.startswith(f"tensorflow: {name}\n")
    assert server.sha256(name) in out and server.file_url(name) in out
    group = "1 file: provider order wheel,sdist: a wheel fits, so sdists are not used"
    assert f"{group}\n      tensorflow-2.2.0.tar.gz\n" in out


def test_default_preference_takes_the_newer_sdist(server, capsys):
    out = _json(capsys, ["choose", "tensorflow", "--json", "-i", server.index_url, *TARGET])
    assert out[0]["filename"] == "tensorflow-2.2.0.tar.gz"


def test_prefer_binary_is_pips_spelling_of_prefer_wheels(server, capsys):
    argv = ["choose", "tensorflow", "--json", "-i", server.index_url, "--prefer-binary", *TARGET]
    assert _json(capsys, argv)[0]["filename"] == "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"


def test_provider_option_per_package(server, capsys):
    argv = ["choose", "tensorflow", "--json", "-i", server.index_url, "--provider", "tensorflow=wheel", *TARGET]
    assert _json(capsys, argv)[0]["kind"] == "wheel"


def test_only_binary_all_is_pips_spelling_of_wheels_only(server, capsys):
    argv = ["choose", "tensorflow", "--json", "-i", server.index_url, "--only-binary", ":all:", *TARGET]
    assert _json(capsys, argv)[0]["kind"] == "wheel"


def test_find_links_folder_with_no_index(server, capsys):
    argv = ["choose", "tensorflow==2.1.0", "--json", "--no-index", "-f", str(server.folder), *TARGET]
    chosen = _json(capsys, argv)[0]
    assert chosen["url"].startswith("file://")
    assert chosen["sha256"] == server.sha256(chosen["filename"])  # hashed locally: Nix needs it


def test_no_matching_file_exits_1_with_one_line(server, capsys):
    assert main(["choose", "tensorflow==9.9", "-i", server.index_url, *TARGET]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wheelmeta: error: tensorflow==9.9: none of 3 files fits")


def test_bad_provider_is_a_usage_error_exit_2(server, capsys):
    assert main(["choose", "tensorflow", "-i", server.index_url, "--provider", "tensorflow=conda"]) == 2
    assert "unknown provider conda" in capsys.readouterr().err


def test_several_requirements_give_one_array(server, capsys):
    out = _json(capsys, ["choose", "tensorflow==2.1.0", "tensorflow>2.1", "--json", "-i", server.index_url, *TARGET])
    assert [o["version"] for o in out] == ["2.1.0", "2.2.0"]


def test_a_requirement_that_cannot_be_met_does_not_stop_the_others(server, capsys):
    argv = ["choose", "tensorflow==9.9", "tensorflow==2.1.0", "--json", "-i", server.index_url, *TARGET]
    assert main(argv) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out[0]["requirement"] == "tensorflow==9.9" and "none of 3 files fits" in out[0]["error"]
    assert out[1]["filename"] == "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"
    assert captured.err.strip().splitlines() == [
        f"wheelmeta: error: {out[0]['error']}; --explain lists every rejected file by reason"]


def test_chosen_url_carries_the_sha256_that_nix_needs(server, capsys):
    chosen = _json(capsys, ["choose", "tensorflow==2.1.0", "--json", "-i", server.index_url, *TARGET])[0]
    assert main(["nix", chosen["url"]]) == 0
    assert f'url = "{server.file_url(chosen["filename"])}"' in capsys.readouterr().out


@pytest.fixture
def many_versions(tmp_path):
    """Seven releases with Python 2 wheels only, then one release with a wheel for the target."""
    folder = tmp_path / "many"
    for minor in range(7):
        make_wheel(folder, "demo", f"1.{minor}", tag="cp27-cp27mu-manylinux1_x86_64")
    make_wheel(folder, "demo", "0.9", tag="cp37-cp37m-manylinux2010_x86_64")
    with IndexServer(folder) as running:
        yield running


def test_explain_text_groups_rejections_by_reason_newest_first_with_a_few_examples(many_versions, capsys):
    assert main(["choose", "demo", "--explain", "-i", many_versions.index_url, *TARGET]) == 0
    out = capsys.readouterr().out
    rejected = out[out.index("  rejected"):].splitlines()
    assert rejected[1] == "    7 files: no tag fits the target cp37 (cp37m) on manylinux2010_x86_64"
    assert rejected[2:6] == [f"      demo-1.{m}-cp27-cp27mu-manylinux1_x86_64.whl" for m in (6, 5, 4)] + [
        "      ... and 4 more (all of them with --json)"]


def test_explain_json_groups_every_rejected_file_newest_first(many_versions, capsys):
    out = _json(capsys, ["choose", "demo", "--json", "--explain", "-i", many_versions.index_url, *TARGET])
    (group,) = out[0]["rejected"]
    assert (group["count"], group["reason"]) == (7, "no tag fits the target cp37 (cp37m) on manylinux2010_x86_64")
    assert [f["version"] for f in group["files"]] == [f"1.{m}" for m in range(6, -1, -1)]


def test_no_match_with_explain_groups_the_reasons_under_the_error(many_versions, capsys):
    assert main(["choose", "demo>=1", "--explain", "-i", many_versions.index_url, *TARGET]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("wheelmeta: error: demo>=1: none of 8 files fits") and "--explain" not in err[0]
    assert err[1:3] == ["  7 files: no tag fits the target cp37 (cp37m) on manylinux2010_x86_64",
                        "    demo-1.6-cp27-cp27mu-manylinux1_x86_64.whl"]


def test_requirement_whose_marker_is_false_is_not_needed_and_asks_no_index(server, capsys):
    argv = ["choose", 'tensorflow==2.1.0; python_version >= "3.8"', "--json", "-i", server.index_url, *TARGET]
    out = _json(capsys, argv)
    assert out == [{"requirement": 'tensorflow==2.1.0; python_version >= "3.8"', "needed": False,
                    "reason": 'not needed: marker python_version >= "3.8" is false on cp37 (cp37m) on '
                              "manylinux2010_x86_64"}]
    assert server.requests == 0


def test_requirement_whose_marker_is_false_says_not_needed_in_text(server, capsys):
    argv = ["choose", 'tensorflow; sys_platform == "win32"', "-i", server.index_url, *TARGET]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith('tensorflow; sys_platform == "win32": not needed\n')


def test_requirement_whose_marker_holds_is_chosen(server, capsys):
    argv = ["choose", 'tensorflow==2.1.0; python_version < "3.8"', "--json", "-i", server.index_url, *TARGET]
    assert _json(capsys, argv)[0]["filename"] == "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"


def _pip_config(tmp_path, monkeypatch, constraints: str):
    """A pip config file of the test's own whose [global] constraint names a constraints file."""
    constraint_file = tmp_path / "constraints.txt"
    constraint_file.write_text(constraints)
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nconstraint = {constraint_file}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    return constraint_file


def test_constraint_in_pips_config_binds(server, capsys, tmp_path, monkeypatch):
    _pip_config(tmp_path, monkeypatch, "# capped by the admin\ntensorflow<2.2\n")
    chosen = _json(capsys, ["choose", "tensorflow", "--json", "-i", server.index_url, *TARGET])[0]
    assert chosen["version"] == "2.1.0"
    assert "constrained by tensorflow<2.2" in chosen["reason"]


def test_constraint_option_binds_together_with_pips_configured_ones(server, capsys, tmp_path, monkeypatch):
    _pip_config(tmp_path, monkeypatch, "tensorflow<2.2\n")
    extra = tmp_path / "more.txt"
    extra.write_text("tensorflow!=2.1.0\n")
    assert main(["choose", "tensorflow", "-c", str(extra), "-i", server.index_url, *TARGET]) == 1
    err = capsys.readouterr().err
    assert "excluded by constraint tensorflow<2.2" in err and "excluded by constraint tensorflow!=2.1.0" in err


def test_missing_constraints_file_is_a_usage_error_naming_it(server, capsys, tmp_path):
    missing = tmp_path / "nothere.txt"
    assert main(["choose", "tensorflow", "-c", str(missing), "-i", server.index_url, *TARGET]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"wheelmeta: error: {missing}: no such file (given to --constraint)"]


def test_missing_providers_file_is_a_usage_error_naming_it(server, capsys, tmp_path):
    missing = tmp_path / "providers.toml"
    assert main(["choose", "tensorflow", "--providers", str(missing), "-i", server.index_url, *TARGET]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"wheelmeta: error: {missing}: no such file (given to --providers)"]


def test_quiet_is_accepted_after_the_subcommand(server, capsys):
    assert main(["choose", "tensorflow==2.1.0", "-q", "-i", server.index_url, *TARGET]) == 0
