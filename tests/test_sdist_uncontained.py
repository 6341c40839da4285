"""An sdist whose setup.py would run where no sandbox level contains the filesystem: by default it does not run,
the answer is what the static files say, and a problem says why and names the opt-in; the text output of
``metadata`` says which isolation ran, or that none did."""

from __future__ import annotations

import json

import pytest
from builders import make_sdist, metadata_text

from wheelmeta.cli import main
from wheelmeta.sdist import read_sdist_metadata, sandbox

SETUP_CFG = "[metadata]\nname = demo\n\n[options]\ninstall_requires =\n    six\n"


def hostile_sdist(tmp_path, marker, **extra_files):
    """An sdist whose setup.py leaves ``marker`` behind (outside its tree) if it runs (None: a harmless one)."""
    setup_py = (f"open({str(marker)!r}, 'w').close()\n" if marker else "") + (
                "from setuptools import setup\nsetup(name='demo', version='1.0', install_requires=['six', 'attrs'])\n")
    return make_sdist(tmp_path / "dist", files={"PKG-INFO": metadata_text("demo", "1.0", metadata_version="1.2"),
                                                "setup.py": setup_py, **extra_files})


def test_setup_py_is_not_run_and_setup_cfg_is_the_partial_answer(tmp_path, no_containing_sandbox):
    marker = tmp_path / "setup-py-ran"
    md = read_sdist_metadata(hostile_sdist(tmp_path, marker, **{"setup.cfg": SETUP_CFG}))
    assert not marker.exists()
    assert md.provenance == "static-partial" and md.isolation is None
    assert [str(r) for r in md.requires_dist] == ["six"]
    assert "setup.py not run" in md.problems[0] and "--allow-uncontained" in md.problems[0]


def test_without_setup_cfg_the_partial_answer_is_pkg_info(tmp_path, no_containing_sandbox):
    md = read_sdist_metadata(hostile_sdist(tmp_path, tmp_path / "setup-py-ran"))
    assert (md.name, md.version, md.provenance) == ("demo", "1.0", "static-partial")
    assert "WHEELMETA_SANDBOX=rlimits-only" in md.problems[0]


def test_allow_uncontained_runs_setup_py_under_the_best_level_left(tmp_path, no_containing_sandbox):
    marker = tmp_path / "setup-py-ran"
    md = read_sdist_metadata(hostile_sdist(tmp_path, marker), allow_uncontained=True)
    assert marker.exists()
    assert (md.provenance, md.isolation) == ("setup-py-sandboxed", "rlimits-only")
    assert [str(r) for r in md.requires_dist] == ["six", "attrs"]


def test_text_output_says_the_code_did_not_run_and_how_to_allow_it(tmp_path, capsys, no_containing_sandbox):
    assert main(["metadata", str(hostile_sdist(tmp_path, tmp_path / "ran"))]) == 0
    out = capsys.readouterr().out
    assert "isolation        none: the sdist's code was not run" in out
    assert "! problem: setup.py not run: no sandbox level here contains the filesystem" in out
    assert "--allow-uncontained" in out


def test_allow_uncontained_flag_runs_it_and_the_text_says_what_was_not_contained(tmp_path, capsys,
                                                                                no_containing_sandbox):
    assert main(["metadata", str(hostile_sdist(tmp_path, tmp_path / "ran")), "--allow-uncontained"]) == 0
    out = capsys.readouterr().out
    assert "isolation        rlimits-only (resource limits only; the filesystem and the network NOT contained)" in out
    assert (tmp_path / "ran").exists()


def test_text_output_names_the_isolation_that_ran(tmp_path, capsys):
    try:
        expected = sandbox.detect_isolation()
    except sandbox.UncontainedError:
        pytest.skip("no sandbox level contains the filesystem here (the tests above cover this machine)")
    sdist = hostile_sdist(tmp_path, None)
    assert main(["metadata", str(sdist)]) == 0
    assert f"  isolation        {expected} (filesystem read-only but the tree" in capsys.readouterr().out
    assert main(["metadata", str(sdist), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["isolation"] == expected


def test_pep517_hook_is_not_run_either_and_nothing_is_installed_for_it(tmp_path, no_containing_sandbox):
    pyproject = ('[build-system]\nrequires = ["wheelmeta-test-no-such-backend"]\nbuild-backend = "nosuch"\n\n'
                 '[project]\nname = "demo"\nversion = "1.0"\ndynamic = ["dependencies"]\n')
    sdist = make_sdist(tmp_path / "dist", files={"pyproject.toml": pyproject})
    md = read_sdist_metadata(sdist, allow_build=True, index_urls=[])
    assert md.provenance == "static-partial"
    assert md.problems[0].startswith("the PEP 517 hook not run: no sandbox level here contains the filesystem")
