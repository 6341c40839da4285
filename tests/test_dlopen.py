"""Libraries loaded with dlopen(), declared in FDO ``.note.dlopen`` notes: read, reported, patched, and given to Nix.

The notes are compiled here with the layout systemd's and SDL's macros use (a ``.note.dlopen`` section of an
``FDO`` note of type 0x407c0c0a whose descriptor is a JSON array), so the linker places them as it does for
real libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from builders import make_wheel
from elfbuild import compile_so, require_cc

from wheelmeta import audit_wheel, nix_inputs
from wheelmeta.cli import main
from wheelmeta.manylinux.elf import read_elf_facts

NOTE_TEMPLATE = r"""
#include <stdint.h>
#define JSON {json}
__attribute__((aligned(4), used, section(".note.dlopen")))
static const struct {{
    struct {{ uint32_t n_namesz, n_descsz, n_type; }} nhdr;
    char name[sizeof("FDO")];
    __attribute__((aligned(4))) char json[sizeof(JSON)];
}} note = {{ {{ sizeof("FDO"), sizeof(JSON), 0x407c0c0a }}, "FDO", JSON }};
"""


def _note_source(entries) -> str:
    text = json.dumps(entries) if not isinstance(entries, str) else entries
    return NOTE_TEMPLATE.format(json=json.dumps(text))


def _facts(path):
    data = path.read_bytes()
    return read_elf_facts(iter([data]), path.name, size=len(data))


def test_dlopen_notes_are_read_with_priority_feature_and_alternatives(tmp_path):
    require_cc()
    entries = [
        {"feature": "zstd", "description": "compression", "priority": "recommended", "soname": ["libzstd.so.1"]},
        {"feature": "gl", "priority": "required", "soname": ["libGL.so.1", "libOpenGL.so.0"]},
    ]
    lib = compile_so(tmp_path, "libuser.so", _note_source(entries) + "int f(void){return 1;}")
    notes = _facts(lib).dlopen
    assert [(n.sonames, n.priority, n.feature) for n in notes] == [
        (("libzstd.so.1",), "recommended", "zstd"),
        (("libGL.so.1", "libOpenGL.so.0"), "required", "gl"),
    ]


def test_a_malformed_dlopen_note_is_a_problem_not_an_error(tmp_path):
    require_cc()
    lib = compile_so(tmp_path, "libbad.so", _note_source('[{"soname": "not-a-list"}, {"soname": [') + "int f(void){return 1;}")
    facts = _facts(lib)
    assert facts.dlopen == ()
    assert any("unreadable .note.dlopen" in p for p in facts.problems)


def test_scan_lists_dlopen_libraries_and_nix_inputs_provide_them(tmp_path, capsys):
    require_cc()
    entries = [{"feature": "zstd", "priority": "recommended", "soname": ["libzstd.so.1"]}]
    lib = compile_so(tmp_path, "libuser.so.1", _note_source(entries) + "int f(void){return 1;}", soname="libuser.so.1")
    wheel = make_wheel(tmp_path, "user", "1.0", tag="py3-none-manylinux_2_17_x86_64", files={"user/libuser.so.1": lib.read_bytes()})
    assert main(["scan", "--members", str(wheel)]) == 0
    assert "dlopen (recommended, zstd): libzstd.so.1" in capsys.readouterr().out
    inputs = nix_inputs(audit_wheel(str(wheel)))
    assert inputs.by_soname["libzstd.so.1"]["dlopen"] == "recommended"
    assert inputs.by_soname["libzstd.so.1"]["class"] == "nixpkgs"
    assert inputs.by_soname["libzstd.so.1"]["attribute"] in inputs.build_inputs


def test_an_unknown_optional_dlopen_library_is_ignored_by_autopatchelf_and_said(tmp_path):
    require_cc()
    entries = [{"priority": "suggested", "soname": ["libnobody-knows.so.3"]}]
    lib = compile_so(tmp_path, "libuser.so.1", _note_source(entries) + "int f(void){return 1;}", soname="libuser.so.1")
    wheel = make_wheel(tmp_path, "user", "1.0", tag="py3-none-manylinux_2_17_x86_64", files={"user/libuser.so.1": lib.read_bytes()})
    inputs = nix_inputs(audit_wheel(str(wheel)))
    assert "libnobody-knows.so.3" in inputs.unknown
    assert "libnobody-knows.so.3" in inputs.ignore_missing_deps


EXT_DLOPEN = r"""
#include <Python.h>
#include <dlfcn.h>
static PyObject *load(PyObject *self, PyObject *args) {
    void *handle = dlopen("libplugin.so.1", RTLD_NOW);
    if (!handle) { PyErr_SetString(PyExc_OSError, dlerror()); return NULL; }
    int (*value)(void) = (int (*)(void))dlsym(handle, "plugin_value");
    return PyLong_FromLong(value());
}
static PyMethodDef methods[] = {{"load", load, METH_NOARGS, ""}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ext", 0, -1, methods};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&module); }
"""


def test_patch_puts_a_dlopen_library_on_the_runpath_of_the_object_that_loads_it(tmp_path):
    require_cc()
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip(f"no Python.h in {include}: the extension cannot be compiled")
    plugins = tmp_path / "plugins"
    compile_so(plugins, "libplugin.so.1", "int plugin_value(void){return 7;}", soname="libplugin.so.1")
    note = _note_source([{"feature": "plugin", "priority": "required", "soname": ["libplugin.so.1"]}])
    ext = compile_so(tmp_path / "build", "_ext.so", note + EXT_DLOPEN, extra=["-I" + include, "-ldl"])
    wheel = make_wheel(
        tmp_path / "dist",
        "dlthing",
        "1.0",
        tag="cp311-cp311-manylinux_2_17_x86_64",
        files={"dlthing/__init__.py": b"from ._ext import load\n", "dlthing/_ext.so": ext.read_bytes()},
    )
    assert main(["patch", str(wheel), "--lib-dir", str(plugins), "-o", str(tmp_path / "out")]) == 0
    results = {}
    for label, source in (("before", wheel), ("after", next((tmp_path / "out").glob("*.whl")))):
        target = tmp_path / label
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(source)],
            check=True,
            capture_output=True,
            env={**os.environ, "PIP_CONSTRAINT": ""},
        )
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        env["PYTHONPATH"] = str(target)
        results[label] = subprocess.run(
            [sys.executable, "-c", "import dlthing; print(dlthing.load())"], capture_output=True, text=True, env=env
        )
    assert "libplugin.so.1: cannot open shared object file" in results["before"].stderr
    assert results["after"].returncode == 0, results["after"].stderr
    assert results["after"].stdout.strip() == "7"
