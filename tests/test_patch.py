"""``wheelmeta patch``: real extensions compiled here, loaded by the real loader in fresh processes.

Each scenario builds a Python extension (``cc`` with the interpreter's headers) that needs libraries placed where
the loader does not look: a folder of the test's (``--lib-dir``), a ``.libs`` folder inside the wheel without any
RUNPATH to it (carried), and a sibling wheel's folder (another wheel). Before patching, the import fails with the
loader's own error; after ``wheelmeta patch`` it succeeds, from a fresh ``pip install --target``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from builders import make_wheel
from elfbuild import compile_so, require_cc

from wheelmeta.cli import main

EXT_SOURCE = """
#include <Python.h>
int dep_value(void);
int carried_value(void);
static PyObject *value(PyObject *self, PyObject *args) { return PyLong_FromLong(dep_value() + carried_value()); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, ""}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ext", 0, -1, methods};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&module); }
"""
TAG = "cp311-cp311-manylinux_2_17_x86_64"


def _python_include() -> str:
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip(f"no Python.h in {include}: the extension cannot be compiled")
    return include


def _ext(folder: Path, libs, lib_dirs) -> bytes:
    path = compile_so(folder, "_ext.so", EXT_SOURCE, libs=libs, lib_dirs=lib_dirs, extra=["-I" + _python_include()])
    return path.read_bytes()


def _pip_install(wheels, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), *map(str, wheels)],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONSTRAINT": ""},
    )


def _import(site: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-c", "import fastthing; print(fastthing.value())"], capture_output=True, text=True, env=env
    )


def _fastthing_wheel(tmp_path: Path, ext: bytes, libraries: dict) -> Path:
    """The fastthing wheel: its package, the extension, and ``libraries`` (member path -> bytes)."""
    files = {"fastthing/__init__.py": b"from ._ext import value\n", "fastthing/_ext.so": ext, **libraries}
    return make_wheel(tmp_path / "dist", "fastthing", "1.0", tag=TAG, files=files)


@pytest.fixture
def scenario(tmp_path):
    """A wheel whose extension needs libdep.so.1 (in deps/, outside the wheel) and libcarried.so.1 (carried in
    fastthing.libs/ with no RUNPATH to it)."""
    require_cc()
    deps = tmp_path / "deps"
    compile_so(deps, "libdep.so.1", "int dep_value(void){return 41;}", soname="libdep.so.1")
    build = tmp_path / "build"
    carried = compile_so(build, "libcarried.so.1", "int carried_value(void){return 1;}", soname="libcarried.so.1")
    ext = _ext(build, [":libdep.so.1", ":libcarried.so.1"], [deps, build])
    files = {
        "fastthing/__init__.py": b"from ._ext import value\n",
        "fastthing/_ext.so": ext,
        "fastthing.libs/libcarried.so.1": carried.read_bytes(),
        "fastthing/data.txt": b"unchanged member\n" * 100,
    }
    wheel = make_wheel(tmp_path / "dist", "fastthing", "1.0", tag=TAG, files=files)
    return tmp_path, wheel, deps


def test_import_fails_before_and_loads_after_patching(scenario):
    tmp, wheel, deps = scenario
    _pip_install([wheel], tmp / "before")
    before = _import(tmp / "before")
    assert before.returncode != 0 and "libdep.so.1: cannot open shared object file" in before.stderr

    assert main(["patch", str(wheel), "--lib-dir", str(deps), "-o", str(tmp / "out")]) == 0
    patched = tmp / "out" / "fastthing-1.0-cp311-cp311-linux_x86_64.whl"
    _pip_install([patched], tmp / "after")
    after = _import(tmp / "after")
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "42"


def test_scan_of_the_patched_wheel_shows_the_new_runpath(scenario, capsys):
    tmp, wheel, deps = scenario
    main(["patch", str(wheel), "--lib-dir", str(deps), "-o", str(tmp / "out")])
    capsys.readouterr()
    assert main(["scan", "--members", str(next((tmp / "out").glob("*.whl")))]) == 0
    text = capsys.readouterr().out
    assert f"RUNPATH $ORIGIN/../fastthing.libs:{deps}" in text


def test_record_is_rewritten_and_unchanged_members_are_copied_raw(scenario):
    tmp, wheel, deps = scenario
    main(["patch", str(wheel), "--lib-dir", str(deps), "-o", str(tmp / "out")])
    patched = next((tmp / "out").glob("*.whl"))
    with zipfile.ZipFile(wheel) as old, zipfile.ZipFile(patched) as new:
        assert [i.filename for i in old.infolist()] == [i.filename for i in new.infolist()]
        record = new.read("fastthing-1.0.dist-info/RECORD").decode()
        for line in record.splitlines():
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            data = new.read(path)
            expected = "sha256=" + _urlsafe_sha256(data)
            assert (digest, int(size)) == (expected, len(data)), path
        assert new.read("fastthing/_ext.so") != old.read("fastthing/_ext.so")
        raw_old, raw_new = _raw(wheel, old, "fastthing/data.txt"), _raw(patched, new, "fastthing/data.txt")
        assert raw_old == raw_new
        assert "Tag: cp311-cp311-linux_x86_64" in new.read("fastthing-1.0.dist-info/WHEEL").decode()
        assert new.testzip() is None


def _raw(path, zf, name) -> bytes:
    info = zf.getinfo(name)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset + 26)
        n, m = int.from_bytes(handle.read(2), "little"), int.from_bytes(handle.read(2), "little")
        handle.seek(info.header_offset + 30 + n + m)
        return handle.read(info.compress_size)


def _urlsafe_sha256(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_keep_tag_keeps_the_filename(scenario):
    tmp, wheel, deps = scenario
    main(["patch", str(wheel), "--lib-dir", str(deps), "--keep-tag", "-o", str(tmp / "out")])
    assert [p.name for p in (tmp / "out").iterdir()] == [wheel.name]


def test_check_says_where_each_library_will_be_found_and_writes_nothing(scenario, capsys):
    tmp, wheel, deps = scenario
    assert main(["patch", "--check", "--json", str(wheel)]) == 0
    plan = json.loads(capsys.readouterr().out)["wheels"][0]
    ext = next(m for m in plan["members"] if m["path"] == "fastthing/_ext.so")
    found = {n["soname"]: n["found"] for n in ext["needs"]}
    assert found == {"libdep.so.1": "not-found", "libcarried.so.1": "carried", "libc.so.6": "glibc"}
    assert plan["not_found"] == ["libdep.so.1"]
    assert plan["output"] is None and not (tmp / "out").exists()

    main(["patch", "--check", str(wheel), "--lib-dir", str(deps)])
    text = capsys.readouterr().out
    assert f"libdep.so.1      lib-dir     {deps}" in text


def test_a_library_from_another_wheel_is_reached_through_origin(tmp_path):
    require_cc()
    build = tmp_path / "build"
    sib = compile_so(build, "libsib.so.1", "int dep_value(void){return 40;}", soname="libsib.so.1")
    carried = compile_so(build, "libcarried.so.1", "int carried_value(void){return 2;}", soname="libcarried.so.1")
    ext = _ext(build, [":libsib.so.1", ":libcarried.so.1"], [build])
    sibling = make_wheel(tmp_path / "dist", "sibpkg", "1.0", tag=TAG, files={"sibpkg/lib/libsib.so.1": sib.read_bytes()})
    wheel = _fastthing_wheel(tmp_path, ext, {"fastthing/libcarried.so.1": carried.read_bytes()})
    soname_map = tmp_path / "map.toml"
    soname_map.write_text(
        textwrap.dedent(
            """
            schema = 1
            [[provider]]
            class = "python-package"
            attribute = "sibpkg"
            search_path = "sibpkg/lib"
            sonames = ["libsib.so.1"]
            evidence = "test"
            """
        )
    )
    assert main(["patch", str(wheel), "--map", str(soname_map), "-o", str(tmp_path / "out")]) == 0
    site = tmp_path / "site"
    _pip_install([sibling, next((tmp_path / "out").glob("*.whl"))], site)
    result = _import(site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_a_library_carried_under_a_hashed_name_is_needed_by_that_name(tmp_path):
    require_cc()
    build = tmp_path / "build"
    dep = compile_so(build, "libdep.so.1", "int dep_value(void){return 41;}", soname="libdep.so.1")
    carried = compile_so(build, "libcarried.so.1", "int carried_value(void){return 1;}", soname="libcarried.so.1")
    ext = _ext(build, [":libdep.so.1", ":libcarried.so.1"], [build])
    libs = {
        "fastthing.libs/libdep-1a2b3c4d.so.1": dep.read_bytes(),  # auditwheel's hashed file name
        "fastthing.libs/libcarried.so.1": carried.read_bytes(),
    }
    wheel = _fastthing_wheel(tmp_path, ext, libs)
    assert main(["patch", str(wheel), "-o", str(tmp_path / "out")]) == 0
    site = tmp_path / "site"
    _pip_install([next((tmp_path / "out").glob("*.whl"))], site)
    result = _import(site)
    assert result.returncode == 0, result.stderr
    needed = subprocess.run(["readelf", "-d", str(site / "fastthing" / "_ext.so")], capture_output=True, text=True)
    if needed.returncode == 0:
        assert "[libdep-1a2b3c4d.so.1]" in needed.stdout


def _tree_hashes(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_site_packages_patch_loads_and_undo_restores_every_byte(scenario, capsys):
    tmp, wheel, deps = scenario
    site = tmp / "site"
    _pip_install([wheel], site)
    before = _tree_hashes(site)
    assert _import(site).returncode != 0

    assert main(["patch", "--site-packages", str(site), "--lib-dir", str(deps)]) == 0
    assert _import(site).stdout.strip() == "42"
    record = next(site.glob("fastthing-1.0.dist-info")) / "RECORD"
    ext_row = next(r for r in record.read_text().splitlines() if r.startswith("fastthing/_ext.so,"))
    assert ext_row.split(",")[1] == "sha256=" + _urlsafe_sha256((site / "fastthing" / "_ext.so").read_bytes())

    assert main(["patch", "--undo", str(site)]) == 0
    assert _tree_hashes(site) == before
    assert not (site / ".wheelmeta-patch").exists()


def test_undo_refuses_a_file_changed_since_patching(scenario, capsys):
    tmp, wheel, deps = scenario
    site = tmp / "site"
    _pip_install([wheel], site)
    main(["patch", "--site-packages", str(site), "--lib-dir", str(deps)])
    ext = site / "fastthing" / "_ext.so"
    ext.write_bytes(ext.read_bytes() + b"\0")
    capsys.readouterr()
    assert main(["patch", "--undo", str(site)]) == 1
    err = capsys.readouterr().err
    assert "changed since wheelmeta patched it" in err and str(ext) in err


def test_venv_is_found_below_lib_python(scenario, capsys):
    tmp, wheel, deps = scenario
    venv = tmp / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    _pip_install([wheel], site)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert main(["patch", "--venv", str(venv), "--lib-dir", str(deps), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["site_packages"] == str(site) and result["changed_files"] == 1
    assert _import(site).stdout.strip() == "42"


# -- bad input --------------------------------------------------------------------------------------------------


def test_a_non_elf_member_named_so_is_left_alone(tmp_path, capsys):
    wheel = make_wheel(tmp_path, "fake", "1.0", tag=TAG, files={"fake/_ext.so": b"#!/bin/sh\necho not an ELF file\n"})
    assert main(["patch", str(wheel), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / wheel.name).read_bytes() == wheel.read_bytes()


def test_a_wheel_whose_record_lies_is_refused(scenario, capsys):
    tmp, wheel, deps = scenario
    liar = tmp / "liar" / wheel.name
    liar.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("RECORD"):
                data = data.replace(b"fastthing/_ext.so,sha256=", b"fastthing/_ext.so,sha256=AAAA")
            dst.writestr(info, data)
    assert main(["patch", str(liar), "--lib-dir", str(deps), "-o", str(tmp / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RECORD lies about fastthing/_ext.so" in err and str(liar) in err
    assert list((tmp / "out").iterdir()) == []


def test_an_output_that_would_overwrite_the_input_is_refused(scenario, capsys):
    tmp, wheel, deps = scenario
    assert main(["patch", str(wheel), "--lib-dir", str(deps), "--keep-tag", "-o", str(wheel.parent)]) == 2
    assert "would overwrite its input" in capsys.readouterr().err
    assert main(["patch", str(wheel), "--lib-dir", str(deps), "-o", str(wheel)]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err


def _fake_patchelf(tmp: Path, body: str) -> Path:
    script = tmp / "fake-patchelf"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def test_patchelf_failing_on_a_member_is_one_line_naming_it(scenario, capsys, monkeypatch):
    tmp, wheel, deps = scenario
    monkeypatch.setenv("WHEELMETA_PATCHELF", str(_fake_patchelf(tmp, "echo 'cannot find section .dynamic' >&2; exit 1")))
    assert main(["patch", str(wheel), "--lib-dir", str(deps), "-o", str(tmp / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{wheel}:fastthing/_ext.so: patchelf failed: cannot find section .dynamic" in err
    assert list((tmp / "out").iterdir()) == []


def test_a_missing_patchelf_is_one_line(scenario, capsys, monkeypatch):
    tmp, wheel, deps = scenario
    monkeypatch.setenv("WHEELMETA_PATCHELF", str(tmp / "no-such-patchelf"))
    assert main(["patch", str(wheel), "--lib-dir", str(deps), "-o", str(tmp / "out")]) == 1
    assert "names no executable patchelf" in capsys.readouterr().err


def test_an_interrupted_run_leaves_no_partial_wheel(scenario):
    tmp, wheel, deps = scenario
    started = tmp / "started"
    slow = _fake_patchelf(tmp, f"touch {started}; sleep 30")
    out = tmp / "out"
    env = {**os.environ, "WHEELMETA_PATCHELF": str(slow), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelmeta", "patch", str(wheel), "--lib-dir", str(deps), "-o", str(out)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "patchelf was never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(out.iterdir()) == []


def test_a_read_only_output_folder_is_one_line(scenario, tmp_path):
    tmp, wheel, deps = scenario
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m (a private mount namespace for a read-only mount) is not available here")
    target = tmp / "ro"
    target.mkdir()
    script = (
        f"mount -t tmpfs -o ro tmpfs {target} && "
        f"exec {sys.executable} -m wheelmeta patch {wheel} --lib-dir {deps} -o {target}"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True, text=True, env=env)
    if "mount:" in result.stderr:
        pytest.skip(f"cannot mount a read-only tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "Read-only file system" in lines[0]


# -- --nix: stub library derivations realised in the real store --------------------------------------------------

STUB_NIXPKGS = """
{ ... }:
let
  mk = name: dir: builtins.derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/lib && /bin/cp -r ${dir}/. $out/lib/" ];
  };
in {
  depstub = mk "depstub-1.0" ./depstub;
  glibc = mk "glibc-stub-1.0" ./glibc;
}
"""


def _require_nix_store(tmp: Path) -> None:
    for tool in ("nix-build", "nix-instantiate"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian's nix-bin; .ci/run installs it)")
    probe = subprocess.run(
        ["nix-build", "--no-out-link", "-E", 'builtins.derivation { name = "wheelmeta-probe"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }'],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"nix-build cannot realise a derivation in a local store here: {probe.stderr.strip()[-200:]}")


def test_nix_puts_the_realised_store_paths_on_runpath_and_the_extension_loads(scenario, capsys):
    tmp, wheel, deps = scenario
    _require_nix_store(tmp)
    nixpkgs = tmp / "nixpkgs"
    (nixpkgs / "depstub").mkdir(parents=True)
    shutil.copy(deps / "libdep.so.1", nixpkgs / "depstub" / "libdep.so.1")
    (nixpkgs / "glibc").mkdir()
    (nixpkgs / "default.nix").write_text(STUB_NIXPKGS)
    soname_map = tmp / "map.toml"
    soname_map.write_text('schema = 1\n[[provider]]\nattribute = "depstub"\nsonames = ["libdep.so.1"]\nevidence = "test"\n')

    assert main(["patch", str(wheel), "--nix", "--nixpkgs", str(nixpkgs), "--map", str(soname_map), "--json", "-o", str(tmp / "out")]) == 0
    plan = json.loads(capsys.readouterr().out)["wheels"][0]
    ext = next(m for m in plan["members"] if m["path"] == "fastthing/_ext.so")
    dep = next(n for n in ext["needs"] if n["soname"] == "libdep.so.1")
    assert dep["found"] == "nix" and dep["detail"] == "depstub"
    assert dep["directory"].startswith("/nix/store/") and dep["directory"].endswith("-depstub-1.0/lib")
    assert os.path.exists(os.path.join(dep["directory"], "libdep.so.1"))
    site = tmp / "site"
    _pip_install([next((tmp / "out").glob("*.whl"))], site)
    result = _import(site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_nix_gives_executables_the_interpreter_of_that_glibc_from_nix_path(tmp_path, monkeypatch):
    require_cc()
    _require_nix_store(tmp_path)
    loader = Path("/lib64/ld-linux-x86-64.so.2")
    if not loader.exists():
        pytest.skip("this test copies the x86_64 glibc loader; /lib64/ld-linux-x86-64.so.2 is not here")
    build = tmp_path / "build"
    build.mkdir()
    (build / "tool.c").write_text("int main(void){return 7;}\n")
    subprocess.run([require_cc(), "-o", str(build / "tool"), str(build / "tool.c")], check=True)
    wheel = make_wheel(tmp_path / "dist", "tooly", "1.0", tag=TAG, files={"tooly/tool": (build / "tool").read_bytes()})
    nixpkgs = tmp_path / "nixpkgs"
    (nixpkgs / "depstub").mkdir(parents=True)
    (nixpkgs / "glibc").mkdir()
    shutil.copy(loader, nixpkgs / "glibc" / loader.name)
    (nixpkgs / "default.nix").write_text(STUB_NIXPKGS)
    monkeypatch.setenv("NIX_PATH", f"nixpkgs={nixpkgs}")  # <nixpkgs> as a Nix user has it, no --nixpkgs
    assert main(["patch", str(wheel), "--nix", "-o", str(tmp_path / "out")]) == 0
    site = tmp_path / "site"
    _pip_install([next((tmp_path / "out").glob("*.whl"))], site)
    tool = site / "tooly" / "tool"
    tool.chmod(0o755)
    interp = subprocess.run(["readelf", "-l", str(tool)], capture_output=True, text=True).stdout
    assert "/nix/store/" in interp and "-glibc-stub-1.0/lib/ld-linux-x86-64.so.2" in interp
    assert subprocess.run([str(tool)]).returncode == 7


def test_a_need_behind_a_runpath_entry_outside_the_wheel_is_another_wheels(tmp_path, capsys):
    require_cc()
    build = tmp_path / "build"
    compile_so(build / "libs", "libcudart.so.13", "int dep_value(void){return 1;}", soname="libcudart.so.13")
    lib = compile_so(
        build,
        "libuser.so",
        "int dep_value(void); int f(void){return dep_value();}",
        libs=[":libcudart.so.13"],
        lib_dirs=[build / "libs"],
        runpath=["$ORIGIN/../nvidia/cu13/lib"],
    )
    wheel = make_wheel(tmp_path / "dist", "user", "1.0", tag=TAG, files={"user/libuser.so": lib.read_bytes()})
    assert main(["patch", "--check", "--json", str(wheel)]) == 0
    member = json.loads(capsys.readouterr().out)["wheels"][0]["members"][0]
    need = next(n for n in member["needs"] if n["soname"] == "libcudart.so.13")
    assert need["found"] == "other-wheel" and "$ORIGIN/../nvidia/cu13/lib" in need["detail"]
    assert member["changed"] is False


@pytest.mark.parametrize("where", ["wheel", "site-packages"])
def test_nix_names_an_attribute_the_users_nixpkgs_lacks_instead_of_failing_in_nix_build(scenario, capsys, where):
    """Wheels and installed environments alike: the user's nixpkgs is checked before anything is realised."""
    tmp, wheel, deps = scenario
    _require_nix_store(tmp)
    nixpkgs = tmp / "nixpkgs"
    (nixpkgs / "depstub").mkdir(parents=True)
    (nixpkgs / "glibc").mkdir()
    (nixpkgs / "default.nix").write_text(STUB_NIXPKGS)
    soname_map = tmp / "map.toml"
    soname_map.write_text('schema = 1\n[[provider]]\nattribute = "libdepx"\nsonames = ["libdep.so.1"]\nevidence = "test"\n')
    if where == "wheel":
        target = [str(wheel)]
    else:
        _pip_install([wheel], tmp / "site")
        target = ["--site-packages", str(tmp / "site")]
    argv = ["patch", "--check", "--json", *target, "--nix", "--nixpkgs", str(nixpkgs), "--map", str(soname_map)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    members = out["wheels"][0]["members"] if where == "wheel" else out["members"]
    member = next(m for m in members if m["path"] == "fastthing/_ext.so")
    need = next(n for n in member["needs"] if n["soname"] == "libdep.so.1")
    assert need["found"] == "not-found"
    assert "libdepx is not in the nixpkgs at" in need["detail"] and str(nixpkgs) in need["detail"]


def test_undo_refuses_a_manifest_entry_of_the_wrong_shape(tmp_path, capsys):
    site = tmp_path / "site"
    (site / ".wheelmeta-patch").mkdir(parents=True)
    entry = {"path": "demo/_demo.so", "backup": "originals/0", "before": "0" * 64, "mode": 420}  # no "after"
    (site / ".wheelmeta-patch" / "manifest.json").write_text(json.dumps({"files": [entry, {**entry, "after": 5}]}))
    assert main(["patch", "--undo", str(site)]) == 1
    assert "not a wheelmeta patch manifest" in capsys.readouterr().err
