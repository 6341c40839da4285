"""`wheelmeta metadata`: real wheels built in fixtures, run through the real argument parser and entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from builders import MARKER_DEMO_REQUIRES, make_sdist, make_wheel, metadata_text
from wheelmeta.cli import main



@pytest.fixture
def demo_wheel(tmp_path):
    return make_wheel(tmp_path / "dist", "demo", "1.0", requires=MARKER_DEMO_REQUIRES, requires_python=">=2.7",
                      extras=["socks"])


def run_json(capsys, *argv):
    code = main(["metadata", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def names(strings):
    return [Requirement(s).name for s in strings]


def test_json_object_has_the_contract_keys(capsys, demo_wheel):
    code, [obj], _ = run_json(capsys, demo_wheel)
    assert code == 0
    assert obj["file"] == str(demo_wheel) and (obj["name"], obj["version"]) == ("demo", "1.0")
    assert obj["requires_python"] == ">=2.7" and obj["provides_extra"] == ["socks"]
    assert obj["requires_dist"] == [str(Requirement(r)) for r in MARKER_DEMO_REQUIRES]
    assert obj["provenance"] == "wheel-metadata" and obj["problems"] == []
    assert "dependencies" not in obj  # no target, no extras: nothing to evaluate


def test_py27_win32_and_py312_manylinux_socks_give_different_dependencies(capsys, demo_wheel):
    _, [old], _ = run_json(capsys, demo_wheel, "--python-version", "2.7", "--platform", "win32")
    _, [new], _ = run_json(capsys, demo_wheel, "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64",
                           "--extras", "socks")
    assert names(old["dependencies"]) == ["requests", "futures", "pywin32", "tomli", "colorama"]
    assert names(new["dependencies"]) == ["requests", "uvloop", "PySocks"]


def test_host_dependencies_match_pip_reading_the_same_wheel(capsys, demo_wheel):
    # pip's own path: the Distribution its resolver builds from the wheel file, and iter_dependencies(extras)
    from pip._internal.metadata import FilesystemWheel, get_wheel_distribution

    dist = get_wheel_distribution(FilesystemWheel(str(demo_wheel)), "demo")
    for extras in ((), ("socks",)):
        # --extras "" selects no extra but still asks for the host's dependencies
        argv = [demo_wheel, "--extras", ",".join(extras)]
        _, [obj], _ = run_json(capsys, *argv)
        pip_deps = [Requirement(str(r)) for r in dist.iter_dependencies(extras)]
        for r in pip_deps:
            r.marker = None
        assert obj["dependencies"] == [str(r) for r in pip_deps]


def test_dependencies_drop_markers_the_target_decided(capsys, demo_wheel):
    _, [obj], _ = run_json(capsys, demo_wheel, "--python-version", "3.12", "--platform", "win_amd64", "--extras",
                           "socks")
    assert "PySocks!=1.5.7,>=1.5.6" in obj["dependencies"] and not any(";" in d for d in obj["dependencies"])


def test_folder_lists_every_wheel_inside(capsys, tmp_path):
    for name in ("alpha", "beta", "gamma"):
        make_wheel(tmp_path, name, "2.0")
    (tmp_path / "notes.txt").write_text("not a distribution")
    code, objs, _ = run_json(capsys, tmp_path)
    assert code == 0 and [o["name"] for o in objs] == ["alpha", "beta", "gamma"]


def test_folder_lists_sdists_next_to_wheels(capsys, tmp_path):
    make_wheel(tmp_path, "alpha", "1.0", requires=["idna>=2"])
    pkg_info = metadata_text("beta", "2.0", requires=['requests; extra == "x"'], extras=["x"], metadata_version="2.2")
    make_sdist(tmp_path, "beta", "2.0", files={"PKG-INFO": pkg_info})
    code, objs, _ = run_json(capsys, tmp_path, "--extras", "x")
    assert code == 0 and [(o["name"], o["provenance"]) for o in objs] == [("alpha", "wheel-metadata"),
                                                                          ("beta", "pkg-info-static")]
    assert objs[1]["dependencies"] == ["requests"]


def test_quoted_glob_is_expanded(capsys, tmp_path):
    for name in ("alpha", "beta"):
        make_wheel(tmp_path, name, "2.0")
    code, objs, _ = run_json(capsys, str(tmp_path / "a*.whl"))
    assert code == 0 and [o["name"] for o in objs] == ["alpha"]


def test_url_is_read_from_a_real_server_like_a_local_file(capsys, demo_wheel):
    from indexserver import IndexServer

    with IndexServer(demo_wheel.parent) as server:
        url = server.file_url(demo_wheel.name)
        code, [remote], _ = run_json(capsys, url, "--python-version", "2.7", "--platform", "win32")
    _, [local], _ = run_json(capsys, demo_wheel, "--python-version", "2.7", "--platform", "win32")
    assert code == 0 and remote["file"] == url
    assert {k: v for k, v in remote.items() if k not in ("file", "provenance")} == {
        k: v for k, v in local.items() if k not in ("file", "provenance")}


def test_one_bad_file_is_reported_and_the_others_still_read(capsys, tmp_path, demo_wheel):
    bad = tmp_path / "broken-1.0-py3-none-any.whl"
    bad.write_bytes(b"this is not a zip file at all" * 10)
    code, objs, err = run_json(capsys, bad, demo_wheel)
    assert code == 1
    assert objs[0]["file"] == str(bad) and str(bad) in objs[0]["error"] and "name" not in objs[0]
    assert objs[1]["name"] == "demo"
    assert len(err.strip().splitlines()) == 1 and str(bad) in err


def test_text_output_is_a_block_per_file_with_applying_requirements_marked(capsys, demo_wheel):
    code = main(["metadata", str(demo_wheel), "--python-version", "2.7", "--platform", "win32"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("demo 1.0") and "requires-python  >=2.7" in out and "wheel-metadata (static)" in out
    assert "    + futures>=3" in out and "    - uvloop>=0.17" in out
    assert f"requires-dist    {len(MARKER_DEMO_REQUIRES)}, 5 apply (+) on the target" in out


def test_text_output_without_target_lists_requirements_unmarked(capsys, demo_wheel):
    main(["metadata", str(demo_wheel)])
    out = capsys.readouterr().out
    assert "    requests>=2\n" in out and "+ " not in out and "target" not in out


def test_unparseable_requirement_is_flagged_as_a_problem(capsys, tmp_path):
    wheel = make_wheel(tmp_path, "odd", "1.0", requires=["requests>=2", "this is not a requirement ((("])
    code = main(["metadata", str(wheel)])
    out = capsys.readouterr().out
    assert code == 0 and "! problem:" in out and "requests>=2" in out


def test_unknown_extra_warns_and_continues(capsys, demo_wheel):
    code, [obj], err = run_json(capsys, demo_wheel, "--extras", "socks,nope")
    assert code == 0 and obj["unknown_extras"] == ["nope"] and "does not provide the extra 'nope'" in err
    assert "PySocks" in names(obj["dependencies"])


def test_bad_target_option_is_a_usage_error(capsys, demo_wheel):
    code = main(["metadata", str(demo_wheel), "--platform", "solaris_sparc"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "solaris_sparc" in err


def test_missing_path_is_a_usage_error(capsys, tmp_path):
    code = main(["metadata", str(tmp_path / "nothing-1.0-py3-none-any.whl")])
    assert code == 2 and "no such file" in capsys.readouterr().err


def test_console_entry_prints_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "broken-1.0-py3-none-any.whl"
    bad.write_bytes(b"PK\x03\x04 truncated")
    proc = subprocess.run([sys.executable, "-m", "wheelmeta", "metadata", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and str(bad) in proc.stderr
