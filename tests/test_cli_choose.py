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
    assert chosen["url"] == server.file_url(chosen["filename"])
    assert (chosen["kind"], chosen["version"]) == ("wheel", "2.1.0")
    assert chosen["size"] == os.path.getsize(server.folder / chosen["filename"])
    assert "rejected" not in chosen


def test_explain_lists_every_rejected_file_with_its_reason(server, capsys):
    out = _json(capsys, ["choose", "tensorflow==2.1.0", "--json", "--explain", "-i", server.index_url, *TARGET])
    reasons = {r["filename"]: r["reason"] for r in out[0]["rejected"]}
    assert set(reasons) == {"tensorflow-2.1.0-cp36-cp36m-manylinux2010_x86_64.whl", "tensorflow-2.2.0.tar.gz"}
    assert "does not match ==2.1.0" in reasons["tensorflow-2.2.0.tar.gz"]
    assert "no tag fits" in reasons["tensorflow-2.1.0-cp36-cp36m-manylinux2010_x86_64.whl"]


def test_text_output_names_file_url_and_sha256(server, capsys):
    assert main(["choose", "tensorflow", "--prefer-wheels", "--explain", "-i", server.index_url, *TARGET]) == 0
    out = capsys.readouterr().out
    name = "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"
    assert out.startswith(f"tensorflow: {name}\n")
    assert server.sha256(name) in out and server.file_url(name) in out
    assert "tensorflow-2.2.0.tar.gz: provider order wheel,sdist" in out


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
    assert captured.err.strip().splitlines() == [f"wheelmeta: error: {out[0]['error']}"]
