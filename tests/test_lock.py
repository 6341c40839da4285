"""``wheelmeta lock``: resolution, the store and pylock.toml, against a real index server on 127.0.0.1.

Every lock a test writes is read back with ``packaging.pylock`` (:func:`_read_lock`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable

import pytest
import tomllib
from builders import make_sdist, make_wheel, metadata_text
from elfbuild import PYEXT_SOURCE, compile_so
from indexserver import IndexServer
from packaging.pylock import Pylock

from wheelmeta.cli import main

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]
WINDOWS = ["--python-version", "3.12", "--platform", "win_amd64"]
SRC = str(Path(__file__).resolve().parent.parent / "src")



def _index(folder: Path, wheels: Iterable[tuple] = (), sdists: Iterable[tuple] = ()) -> Path:
    """Wheels as (name, version, requires[, tag[, requires_python]]), sdists as (name, version, files)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, version, requires, *rest in wheels:
        tag = rest[0] if rest else "py3-none-any"
        requires_python = rest[1] if len(rest) > 1 else None
        make_wheel(folder, name, version, requires=requires, tag=tag, requires_python=requires_python)
    for name, version, files in sdists:
        make_sdist(folder, name, version, files=files)
    return folder


def _lock(tmp_path, server, *argv, output="pylock.toml", capsys=None):
    """Run ``wheelmeta lock`` in-process; (exit code, the lock as a dict or None, stderr)."""
    out = tmp_path / output
    code = main(["lock", "-i", server.index_url, "--cache-dir", str(tmp_path / "cache"), "-o", str(out), *argv])
    err = capsys.readouterr().err if capsys is not None else ""
    return code, (_read_lock(out) if code == 0 else None), err


def _read_lock(path: Path) -> dict:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    Pylock.from_dict(data)  # raises when packaging.pylock rejects it
    return data


def _versions(lock: dict) -> Dict[str, str]:
    return {p["name"]: p["version"] for p in lock["packages"]}


def _package(lock: dict, name: str) -> dict:
    return next(p for p in lock["packages"] if p["name"] == name)


@pytest.fixture(autouse=True)
def only_named_indexes(monkeypatch):
    """No pip config files, no PIP_* variables of this machine (child processes inherit the same)."""
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(folder: Path, **options) -> IndexServer:
        server = IndexServer(folder, pep658=options.pop("pep658", True), **options)
        server.__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


# -- resolution -----------------------------------------------------------------------------------------------------


def test_extras_add_their_dependencies_and_are_recorded(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("web", "1.0", ["core", 'socks-lib; extra == "socks"']),
                                         ("core", "1.0", []), ("socks-lib", "2.0", [])])
    code, lock, _ = _lock(tmp_path, serve(folder), "web[socks]", *LINUX, capsys=capsys)
    assert code == 0
    assert _versions(lock) == {"core": "1.0", "socks-lib": "2.0", "web": "1.0"}
    assert _package(lock, "web")["tool"]["wheelmeta"]["extras"] == ["socks"]
    assert _package(lock, "web")["dependencies"] == [{"name": "core"}, {"name": "socks-lib"}]


def test_markers_are_evaluated_for_the_target_not_the_host(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("app", "1.0", ['winonly; sys_platform == "win32"', "common"]),
                                         ("winonly", "1.0", [], "py3-none-win_amd64"), ("common", "1.0", [])])
    server = serve(folder)
    _, windows, _ = _lock(tmp_path, server, "app", *WINDOWS, output="win.toml", capsys=capsys)
    _, linux, _ = _lock(tmp_path, server, "app", *LINUX, output="linux.toml", capsys=capsys)
    assert set(_versions(windows)) == {"app", "common", "winonly"}
    assert set(_versions(linux)) == {"app", "common"}
    assert "sys_platform == 'win32'" in windows["environments"][0]


def test_a_conflict_is_solved_by_backtracking_to_an_older_version(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "1.0", ["b"]), ("a", "2.0", ["b>=2", "c<2"]),
                                         ("b", "1.0", ["c<2"]), ("b", "2.0", ["c>=2"]),
                                         ("c", "1.0", []), ("c", "2.0", [])])
    code, lock, _ = _lock(tmp_path, serve(folder), "a", *LINUX, capsys=capsys)
    assert code == 0
    assert _versions(lock) == {"a": "1.0", "b": "2.0", "c": "2.0"}


def test_an_unsatisfiable_set_is_explained_as_a_chain_up_to_the_input_line(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "2.0", ["b>=2", "c<2"]), ("b", "2.0", ["c>=2"]),
                                         ("c", "1.0", []), ("c", "2.0", [])])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# the app\na==2.0\n")
    code, _, err = _lock(tmp_path, serve(folder), "-r", str(requirements), *LINUX, capsys=capsys)
    assert code == 1 and err.count("\n") == 1
    assert "no version of c fits" in err
    assert f"c<2 (from a 2.0, from {requirements}:2) excludes 2.0" in err
    assert f"c>=2 (from b 2.0, from a 2.0, from {requirements}:2) excludes 1.0" in err


def test_a_yanked_release_is_skipped(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", []), ("lib", "1.1", [])])
    server = serve(folder, yanked={"lib-1.1-py3-none-any.whl": "broken build"})
    _, lock, _ = _lock(tmp_path, server, "lib", *LINUX, capsys=capsys)
    assert _versions(lock) == {"lib": "1.0"}


def test_a_yanked_release_is_used_when_pinned_with_double_equals(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", []), ("lib", "1.1", [])])
    server = serve(folder, yanked={"lib-1.1-py3-none-any.whl": "broken build"})
    _, lock, _ = _lock(tmp_path, server, "lib==1.1", *LINUX, capsys=capsys)
    assert _versions(lock) == {"lib": "1.1"}


def test_requires_python_announced_by_the_index_excludes_a_release(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", []), ("lib", "2.0", [])])
    server = serve(folder, requires_python={"lib-2.0-py3-none-any.whl": ">=3.13"})
    _, lock, _ = _lock(tmp_path, server, "lib", *LINUX, capsys=capsys)
    assert _versions(lock) == {"lib": "1.0"}


def test_requires_python_only_in_the_metadata_excludes_a_release(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", [], "py3-none-any", ">=3.8"),
                                         ("lib", "2.0", [], "py3-none-any", ">=3.13")])
    _, lock, _ = _lock(tmp_path, serve(folder), "lib", *LINUX, capsys=capsys)
    assert _versions(lock) == {"lib": "1.0"}
    assert _package(lock, "lib")["requires-python"] == ">=3.8"


def test_a_requires_python_no_release_meets_names_the_target_python(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "2.0", [], "py3-none-any", ">=3.13")])
    code, _, err = _lock(tmp_path, serve(folder), "lib", *LINUX, capsys=capsys)
    assert code == 1
    assert "the target's Python 3.12.0 does not fit Python >=3.13 (from lib 2.0" in err


def test_an_sdist_only_dependency_is_answered_through_the_sandbox(tmp_path, serve, capsys):
    setup_py = "from setuptools import setup\nsetup(name='legacy', version='1.0', install_requires=['core>=1'])\n"
    folder = _index(tmp_path / "index", [("app", "1.0", ["legacy"]), ("core", "1.0", [])],
                    sdists=[("legacy", "1.0", {"PKG-INFO": metadata_text("legacy", "1.0"), "setup.py": setup_py})])
    code, lock, err = _lock(tmp_path, serve(folder), "app", *LINUX, capsys=capsys)
    assert code == 0, err
    legacy = _package(lock, "legacy")
    assert legacy["tool"]["wheelmeta"]["provenance"] == "setup-py-sandboxed"
    assert legacy["dependencies"] == [{"name": "core"}] and "wheels" not in legacy
    assert legacy["sdist"]["name"] == "legacy-1.0.tar.gz"
    assert "setuptools>=40.8.0" in legacy["tool"]["wheelmeta"]["build-requires"]


def test_prefer_wheels_takes_an_older_wheel_over_a_newer_sdist(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", [])],
                    sdists=[("lib", "2.0", {"PKG-INFO": metadata_text("lib", "2.0", metadata_version="2.2")})])
    server = serve(folder)
    _, pip_like, _ = _lock(tmp_path, server, "lib", *LINUX, output="pip.toml", capsys=capsys)
    _, wheels, _ = _lock(tmp_path, server, "lib", "--prefer-wheels", *LINUX, output="wheels.toml", capsys=capsys)
    assert _versions(pip_like) == {"lib": "2.0"}
    assert _versions(wheels) == {"lib": "1.0"}


def test_a_direct_reference_locks_that_file(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", []), ("lib", "2.0", [])])
    server = serve(folder)
    url = server.file_url("lib-1.0-py3-none-any.whl")
    _, lock, _ = _lock(tmp_path, server, f"lib @ {url}", *LINUX, capsys=capsys)
    assert _package(lock, "lib")["wheels"][0]["url"] == url
    assert _versions(lock) == {"lib": "1.0"}


# -- the lock file ----------------------------------------------------------------------------------------------------


def test_a_release_with_wheel_and_sdist_lists_both_with_hashes(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", [])],
                    sdists=[("lib", "1.0", {"PKG-INFO": metadata_text("lib", "1.0")})])
    server = serve(folder)
    _, lock, _ = _lock(tmp_path, server, "lib", *LINUX, capsys=capsys)
    lib = _package(lock, "lib")
    assert lib["wheels"][0]["hashes"] == {"sha256": server.sha256("lib-1.0-py3-none-any.whl")}
    assert lib["sdist"]["hashes"] == {"sha256": server.sha256("lib-1.0.tar.gz")}
    assert lib["tool"]["wheelmeta"]["provenance"] == "pep658"


def test_the_same_inputs_give_a_byte_identical_lock(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("web", "1.0", ["core", 'socks-lib; extra == "socks"']),
                                         ("core", "1.0", []), ("socks-lib", "2.0", [])],
                    sdists=[("core", "1.0", {"PKG-INFO": metadata_text("core", "1.0")})])
    server = serve(folder)
    _lock(tmp_path, server, "web[socks]", *LINUX, output="one.toml", capsys=capsys)
    (tmp_path / "cache").rename(tmp_path / "first-cache")  # the second run starts cold as well
    _lock(tmp_path, server, "web[socks]", *LINUX, output="two.toml", capsys=capsys)
    assert (tmp_path / "one.toml").read_bytes() == (tmp_path / "two.toml").read_bytes()


def test_sdists_all_reports_an_sdist_declaring_other_dependencies(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", ["six"]), ("six", "1.0", [])],
                    sdists=[("lib", "1.0", {"PKG-INFO": metadata_text("lib", "1.0", requires=["six", "extra-dep"],
                                                                      metadata_version="2.2")})])
    _, lock, _ = _lock(tmp_path, serve(folder), "lib", "--sdists", "all", *LINUX, capsys=capsys)
    differ = _package(lock, "lib")["tool"]["wheelmeta"]["sdist-dependencies-differ"]
    assert differ == {"sdist": ["extra-dep", "six"], "wheel": ["six"]}


def test_a_wheel_with_native_code_gets_its_nix_inputs_from_the_scan(tmp_path, serve, capsys):
    ext_name = "_core.cpython-312-x86_64-linux-gnu.so"
    ext = compile_so(tmp_path / "build", ext_name, PYEXT_SOURCE.format(module="_core"), libs=["z"])
    folder = tmp_path / "index"
    make_wheel(folder, "zdemo", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64",
               files={"zdemo/__init__.py": b"", f"zdemo/{ext_name}": ext.read_bytes()})
    _, lock, _ = _lock(tmp_path, serve(folder), "zdemo", *LINUX, capsys=capsys)
    nix = _package(lock, "zdemo")["tool"]["wheelmeta"]["nix"]
    assert nix["build-inputs"] == ["zlib"]
    assert nix["driver-runpath"] is False and nix["import-modules"] == ["zdemo"]


def test_a_hash_pin_that_matches_no_file_names_the_line(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", [])])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("lib==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    code, _, err = _lock(tmp_path, serve(folder), "-r", str(requirements), *LINUX, capsys=capsys)
    assert code == 2
    assert f"{requirements}:1: no file of lib matches its --hash pins" in err


def test_a_hash_pin_that_matches_keeps_that_file(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("lib", "1.0", [])])
    server = serve(folder)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"lib==1.0 --hash=sha256:{server.sha256('lib-1.0-py3-none-any.whl')}\n")
    code, lock, _ = _lock(tmp_path, server, "-r", str(requirements), *LINUX, capsys=capsys)
    assert code == 0 and _package(lock, "lib")["wheels"]


# -- the store ------------------------------------------------------------------------------------------------------


def test_offline_from_a_filled_store_gives_the_same_lock_without_requests(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])])
    server = serve(folder)
    _lock(tmp_path, server, "a", *LINUX, output="online.toml", capsys=capsys)
    server.reset()
    code, _, _ = _lock(tmp_path, server, "a", "--offline", *LINUX, output="offline.toml", capsys=capsys)
    assert code == 0 and server.requests == 0
    assert (tmp_path / "online.toml").read_bytes() == (tmp_path / "offline.toml").read_bytes()


def test_offline_names_the_project_the_store_lacks(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", []), ("other", "1.0", [])])
    server = serve(folder)
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    code, _, err = _lock(tmp_path, server, "a", "other", "--offline", *LINUX, capsys=capsys)
    assert code == 1
    assert "--offline: the store has no listing of other" in err and "store.sqlite" in err


def test_a_second_lock_reads_metadata_from_the_store(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])])
    server = serve(folder)
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    server.reset()
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    assert not [path for path in server.by_path if path.startswith("/files/")]


def test_two_concurrent_locks_share_one_store(tmp_path, serve):
    wheels = [(f"p{i}", "1.0", [f"p{i + 1}"] if i < 19 else []) for i in range(20)]
    server = serve(_index(tmp_path / "index", wheels))
    env = {**os.environ, "PYTHONPATH": SRC, "WHEELMETA_CACHE_DIR": str(tmp_path / "shared")}
    procs = [subprocess.Popen([sys.executable, "-m", "wheelmeta", "lock", "p0", "-i", server.index_url, *LINUX,
                               "-o", str(tmp_path / f"lock{n}.toml")], env=env, stderr=subprocess.PIPE, text=True)
             for n in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert (tmp_path / "lock0.toml").read_bytes() == (tmp_path / "lock1.toml").read_bytes()
    assert len(_read_lock(tmp_path / "lock0.toml")["packages"]) == 20


def test_a_corrupt_store_file_is_an_error_naming_it(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", [])]))
    store = tmp_path / "cache" / "store.sqlite"
    store.parent.mkdir()
    store.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    code, _, err = _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    assert code == 1
    assert err.startswith(f"wheelmeta: error: {store}: not a usable wheelmeta metadata store")


def test_a_database_of_another_program_is_refused(tmp_path, serve, capsys):
    import sqlite3

    server = serve(_index(tmp_path / "index", [("a", "1.0", [])]))
    store = tmp_path / "cache" / "store.sqlite"
    store.parent.mkdir()
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE cookies (name TEXT)")
    code, _, err = _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    assert code == 1 and f"{store}: an SQLite database of another program" in err


def test_an_sdist_that_cannot_be_read_fails_the_lock_naming_it_and_is_recorded(tmp_path, serve, capsys):
    import sqlite3

    broken = "raise SystemExit('this setup.py refuses to run')\n"
    folder = _index(tmp_path / "index", [("app", "1.0", ["legacy"])],
                    sdists=[("legacy", "1.0", {"PKG-INFO": metadata_text("legacy", "1.0"), "setup.py": broken})])
    code, _, err = _lock(tmp_path, serve(folder), "app", *LINUX, capsys=capsys)
    assert code == 1 and "legacy-1.0.tar.gz" in err
    with sqlite3.connect(tmp_path / "cache" / "store.sqlite") as db:
        assert db.execute("SELECT step FROM failures").fetchall() == [("metadata",)]


def test_a_constraints_file_narrows_a_dependency_without_requiring_it(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("app", "1.0", ["lib"]), ("lib", "1.0", []), ("lib", "2.0", []),
                                         ("unused", "1.0", [])])
    (tmp_path / "constraints.txt").write_text("lib<2\nunused==1.0\n")
    code, lock, _ = _lock(tmp_path, serve(folder), "app", "-c", str(tmp_path / "constraints.txt"), *LINUX,
                          capsys=capsys)
    assert code == 0 and _versions(lock) == {"app": "1.0", "lib": "1.0"}


def test_pips_configured_constraints_bind_as_they_do_for_pip_and_choose(tmp_path, serve, capsys, monkeypatch):
    folder = _index(tmp_path / "index", [("app", "1.0", ["lib"]), ("lib", "1.0", []), ("lib", "2.0", [])])
    (tmp_path / "constraints.txt").write_text("lib<2\n")
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nconstraint = {tmp_path / 'constraints.txt'}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    code, lock, _ = _lock(tmp_path, serve(folder), "app", *LINUX, capsys=capsys)
    assert code == 0 and _versions(lock) == {"app": "1.0", "lib": "1.0"}


def test_a_script_with_inline_metadata_is_locked_with_the_index_of_its_requirements_file(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("lib", "1.0", [])]))
    script = tmp_path / "tool.py"
    script.write_text('# /// script\n# dependencies = ["lib"]\n# ///\nimport lib\n')
    out = tmp_path / "pylock.toml"
    code = main(["lock", str(script), "--no-index", "-f", str(tmp_path / "index"), "--cache-dir",
                 str(tmp_path / "cache"), "-o", str(out), *LINUX])
    assert code == 0
    wheel = _package(_read_lock(out), "lib")["wheels"][0]
    assert wheel["url"].startswith("file://") and wheel["hashes"]["sha256"] == server.sha256("lib-1.0-py3-none-any.whl")


def test_json_summary_counts_requests_and_store_facts(tmp_path, serve, capsys):
    import json

    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])]))
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    _lock(tmp_path, server, "a", "--json", *LINUX)
    summary = json.loads(capsys.readouterr().out)
    assert summary["locked"] == {"a": "1.0", "b": "1.0"}
    # two page requests (the server sends no validators or max-age); the same pages came back, so their stored
    # file lists were read with the two metadata
    assert summary["requests"] == 2 and summary["store"]["facts_read"] == 4


def test_a_project_no_index_has_is_named_with_the_indexes_asked(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", ["missing-dep"])]))
    code, _, err = _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    assert code == 1
    assert f"missing-dep is not on {server.index_url} (asked" in err and "(from a 1.0, from the command line)" in err


def test_an_extra_the_release_does_not_provide_is_a_problem_in_the_lock(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", [])]))
    code, lock, _ = _lock(tmp_path, server, "a[bogus]", *LINUX, capsys=capsys)
    assert code == 0
    assert _package(lock, "a")["tool"]["wheelmeta"]["problems"] == ["a 1.0 provides no extra bogus (ignored)"]


def test_a_second_lock_revalidates_unchanged_pages_with_conditional_requests(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])]), etags=True)
    _lock(tmp_path, server, "a", *LINUX, output="first.toml", capsys=capsys)
    server.reset()
    _lock(tmp_path, server, "a", *LINUX, output="second.toml", capsys=capsys)
    assert sorted(server.by_path) == ["/simple/a/", "/simple/b/"] and server.bytes_sent == 0
    assert (tmp_path / "first.toml").read_bytes() == (tmp_path / "second.toml").read_bytes()


def test_a_page_within_its_max_age_is_not_asked_for_again(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])]), max_age=600)
    _lock(tmp_path, server, "a", *LINUX, output="first.toml", capsys=capsys)
    server.reset()
    _lock(tmp_path, server, "a", *LINUX, output="second.toml", capsys=capsys)
    assert server.requests == 0
    assert (tmp_path / "first.toml").read_bytes() == (tmp_path / "second.toml").read_bytes()


def test_refresh_revalidates_pages_within_their_max_age(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])]), max_age=600, etags=True)
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    server.reset()
    _lock(tmp_path, server, "a", *LINUX, "--refresh", capsys=capsys)
    assert sorted(server.by_path) == ["/simple/a/", "/simple/b/"] and server.bytes_sent == 0


def test_a_page_without_max_age_is_revalidated_each_time(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "1.0", [])])
    server = serve(folder, max_age=0)
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    make_wheel(folder, "a", "2.0")
    _, lock, _ = _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    assert _versions(lock) == {"a": "2.0"}


def test_a_page_fetched_again_unchanged_is_not_parsed_again(tmp_path, serve, capsys, monkeypatch):
    import wheelmeta.index.simple as simple

    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])]))  # no validators, no max-age
    _lock(tmp_path, server, "a", *LINUX, output="first.toml", capsys=capsys)
    parsed = []
    for name in ("parse_json_page", "parse_html_page"):
        monkeypatch.setattr(simple, name, lambda *a, _real=getattr(simple, name), **k: parsed.append(a) or _real(*a, **k))
    server.reset()
    _lock(tmp_path, server, "a", *LINUX, output="second.toml", capsys=capsys)
    assert sorted(server.by_path) == ["/simple/a/", "/simple/b/"] and parsed == []
    assert (tmp_path / "first.toml").read_bytes() == (tmp_path / "second.toml").read_bytes()


def test_a_local_index_page_is_read_again_only_when_it_changed(tmp_path, capsys):
    folder = tmp_path / "simple" / "a"
    folder.mkdir(parents=True)
    wheels = _index(tmp_path / "files", [("a", "1.0", [])])
    page = folder / "index.html"
    page.write_text(f'<a href="{(wheels / "a-1.0-py3-none-any.whl").as_uri()}">a-1.0-py3-none-any.whl</a>\n')
    argv = ["lock", "a", "-i", (tmp_path / "simple").as_uri(), "--cache-dir", str(tmp_path / "cache"), *LINUX,
            "-o", str(tmp_path / "pylock.toml")]
    assert main(argv) == 0
    make_wheel(wheels, "a", "2.0")
    assert main(argv) == 0 and _versions(_read_lock(tmp_path / "pylock.toml")) == {"a": "1.0"}  # page unchanged
    page.write_text(page.read_text() + f'<a href="{(wheels / "a-2.0-py3-none-any.whl").as_uri()}">a-2.0-py3-none-any.whl</a>\n')
    assert main(argv) == 0 and _versions(_read_lock(tmp_path / "pylock.toml")) == {"a": "2.0"}


def test_damaged_stored_file_rows_fall_back_to_the_stored_page(tmp_path, serve, capsys):
    import sqlite3

    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", [])]))
    _lock(tmp_path, server, "a", *LINUX, output="first.toml", capsys=capsys)
    with sqlite3.connect(tmp_path / "cache" / "store.sqlite") as db:
        db.execute("""UPDATE pages SET files = '[["a-1.0-py3-none-any.whl", "u", "wheel", "a", "not a version"]]'""")
    code, _, err = _lock(tmp_path, server, "a", *LINUX, "--offline", output="second.toml", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "first.toml").read_bytes() == (tmp_path / "second.toml").read_bytes()


def test_damaged_stored_rows_of_the_version_resolved_fall_back_to_the_stored_page(tmp_path, serve, capsys):
    import json
    import sqlite3

    server = serve(_index(tmp_path / "index", [("a", "1.0", []), ("a", "2.0", [])]))
    _lock(tmp_path, server, "a", *LINUX, output="first.toml", capsys=capsys)
    with sqlite3.connect(tmp_path / "cache" / "store.sqlite") as db:
        (text,) = db.execute("SELECT files FROM pages WHERE project = 'a'").fetchone()
        header, _, rows = text.partition("\n")
        _, start, end = next(span for span in json.loads(header)["versions"] if span[0] == "2.0")
        db.execute("UPDATE pages SET files = ? WHERE project = 'a'",
                   (header + "\n" + rows[:start] + "x" * (end - start) + rows[end:],))
    code, _, err = _lock(tmp_path, server, "a", *LINUX, "--offline", output="second.toml", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "first.toml").read_bytes() == (tmp_path / "second.toml").read_bytes()


def test_a_store_with_file_rows_in_the_first_flat_layout_gives_the_same_lock(tmp_path, serve, capsys):
    import json
    import sqlite3

    from wheelmeta.store import files_from_json

    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("a", "2.0", ["b"]), ("b", "1.0", [])]))
    _lock(tmp_path, server, "a", *LINUX, output="first.toml", capsys=capsys)
    with sqlite3.connect(tmp_path / "cache" / "store.sqlite") as db:
        for url, text, index_url in db.execute("SELECT url, files, index_url FROM pages").fetchall():
            flat = [[f.filename, f.url, f.kind, f.name, str(f.version), dict(f.hashes), f.size, f.requires_python,
                     f.yanked, f.core_metadata, f.upload_time] for f in files_from_json(text, index_url)]
            db.execute("UPDATE pages SET files = ? WHERE url = ?", (json.dumps(flat), url))
    code, _, err = _lock(tmp_path, server, "a", *LINUX, "--offline", output="second.toml", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "first.toml").read_bytes() == (tmp_path / "second.toml").read_bytes()


def test_pips_configuration_is_kept_in_the_cache_folder_and_used_by_the_next_lock(tmp_path, serve, capsys,
                                                                                 monkeypatch):
    import wheelmeta.index.config as config

    server = serve(_index(tmp_path / "index", [("a", "1.0", [])]))
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text(f"[global]\nindex-url = {server.index_url}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(pip_conf))
    argv = ["lock", "a", "--cache-dir", str(tmp_path / "cache"), *LINUX, "-o", str(tmp_path / "pylock.toml")]
    assert main(argv) == 0
    assert (tmp_path / "cache" / config.PIP_ANSWER_FILE).is_file()
    monkeypatch.setattr(config, "_items_from_pip", lambda env: pytest.fail("pip's configuration loaded again"))
    assert main([*argv, "--offline"]) == 0 and _versions(_read_lock(tmp_path / "pylock.toml")) == {"a": "1.0"}


def test_prefetching_a_requirement_fetches_the_pages_of_its_likely_dependency_graph(tmp_path, serve, monkeypatch):
    from packaging.requirements import Requirement

    from wheelmeta.index.provider import Preference
    from wheelmeta.resolve.facts import Facts, StoreIndexClient
    from wheelmeta.resolve.provider import _Provider
    from wheelmeta.store import MetadataStore
    from wheelmeta.target import Target

    server = serve(_index(tmp_path / "index", [("a", "1.0", ["b"]), ("b", "1.0", ["c>=1"]), ("c", "1.0", []),
                                               ("unrelated", "1.0", [])]))
    target = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])
    with MetadataStore(tmp_path / "store.sqlite") as store:
        facts = Facts(store, StoreIndexClient(store, [server.index_url]), target)
        monkeypatch.setattr(facts, "prefetch", lambda work: work())  # the workers' tasks, run here in turn
        _Provider(facts, Preference(), {}, {}).prefetch(Requirement("a"))
    assert {"/simple/a/", "/simple/b/", "/simple/c/"} <= set(server.by_path)
    assert "/simple/unrelated/" not in server.by_path


def test_refresh_with_offline_is_a_usage_error(tmp_path, serve, capsys):
    server = serve(_index(tmp_path / "index", [("a", "1.0", [])]))
    code, _, err = _lock(tmp_path, server, "a", *LINUX, "--offline", "--refresh", capsys=capsys)
    assert code == 2 and "--refresh" in err


def test_a_changed_page_is_fetched_again(tmp_path, serve, capsys):
    folder = _index(tmp_path / "index", [("a", "1.0", [])])
    server = serve(folder, etags=True)
    _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    make_wheel(folder, "a", "2.0")
    _, lock, _ = _lock(tmp_path, server, "a", *LINUX, capsys=capsys)
    assert _versions(lock) == {"a": "2.0"}


def test_setup_py_run_by_another_python_than_the_targets_is_a_problem_in_the_lock(tmp_path, serve, capsys):
    setup_py = "from setuptools import setup\nsetup(name='legacy', version='1.0')\n"
    folder = _index(tmp_path / "index", [],
                    sdists=[("legacy", "1.0", {"PKG-INFO": metadata_text("legacy", "1.0"), "setup.py": setup_py})])
    target = ["--python-version", "3.1", "--platform", "manylinux_2_28_x86_64"]  # no python3.1 runs anywhere
    code, lock, err = _lock(tmp_path, serve(folder), "legacy", *target, capsys=capsys)
    assert code == 0, err
    problems = _package(lock, "legacy")["tool"]["wheelmeta"]["problems"]
    assert any("not the target's 3.1" in p for p in problems)


def test_requirements_in_env_nix_out_evaluates_with_wheels_or_sdists_chosen_at_evaluation(tmp_path, serve, capsys):
    from nixstub import evaluate_environment, nix_parse, require_nix

    require_nix()
    folder = _index(tmp_path / "index", [("app", "1.0", ["corelib"]), ("corelib", "1.0", [])],
                    sdists=[("corelib", "1.0", {"PKG-INFO": metadata_text("corelib", "1.0")})])
    server = serve(folder)
    env_file = tmp_path / "env.nix"
    code, lock, err = _lock(tmp_path, server, "app", "--env", str(env_file), *LINUX, capsys=capsys)
    assert code == 0 and env_file.exists(), err
    nix_parse(env_file)
    wheels = evaluate_environment(env_file, tmp_path, [], ["setuptools", "wheel"], "{ preferWheels = true; }")["packages"]
    sdists = evaluate_environment(env_file, tmp_path, [], ["setuptools", "wheel"], "{ preferWheels = false; }")["packages"]
    assert wheels["corelib"]["src"]["url"] == _package(lock, "corelib")["wheels"][0]["url"]
    assert sdists["corelib"]["src"]["url"] == _package(lock, "corelib")["sdist"]["url"]
    assert sdists["app"]["src"]["url"] == _package(lock, "app")["wheels"][0]["url"]  # wheel-only: whatever the flag
