"""``wheelmeta nix``: real wheels holding real ELF objects compiled with cc, audited, classified with the built-in
soname map, written as expressions, and evaluated by the real nix-instantiate against a stub pkgs that holds only
the attributes each test expects (so any other attribute the expression names fails the test).

Libraries such as libGL or libcudart are not installed here: the tests compile stand-ins with the real soname and
link the extension module against them, so DT_NEEDED is what a real toolchain writes.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from builders import make_sdist, make_wheel
from elfbuild import PYEXT_SOURCE, compile_so
from multiarch import multiarch_wheel  # noqa: F401  (a fixture)
from indexserver import IndexServer
from nixstub import evaluate, evaluate_file
from wheelmeta import audit_wheel
from wheelmeta.cli import main

CC = "stdenv.cc.cc.lib"
EXT = "_core.cpython-311-x86_64-linux-gnu.so"


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """Shared objects with the sonames of libraries this machine does not have, to link against."""
    folder = tmp_path_factory.mktemp("stand-ins")
    for link_name, soname in [
        ("GL", "libGL.so.1"),
        ("X11", "libX11.so.6"),
        ("cuda", "libcuda.so.1"),
        ("cudart", "libcudart.so.12"),
        ("cublas", "libcublas.so.12"),
        ("mystery", "libmystery.so.3"),
        ("stdc++", "libstdc++.so.6"),  # found before the real one (if any): the test needs no C++ toolchain
    ]:
        symbol = link_name.replace("+", "p")
        compile_so(folder, f"lib{link_name}.so", f"int {symbol}_symbol(void) {{ return 0; }}\n", soname=soname)
    return folder


def _binary_wheel(tmp_path, stand_ins, name, libs, requires=(), summary="A test distribution"):
    ext = compile_so(tmp_path / "build", EXT, PYEXT_SOURCE.format(module="_core"), libs=libs, lib_dirs=[stand_ins])
    files = {f"{name}/__init__.py": b"", f"{name}/{EXT}": ext.read_bytes()}
    return make_wheel(tmp_path / "dist", name, "1.0", tag="cp311-cp311-manylinux_2_17_x86_64", files=files,
                      requires=requires)


def _run_nix(capsys, *argv):
    code = main(["nix", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _eval(tmp_path, text, native=(), python=()):
    # in the folder the command ran in: printed expressions name local wheels relative to it
    return evaluate(text, tmp_path, native, python)


def test_cc_runtime_only_wheel_gets_exactly_stdenv_cc_cc_lib(tmp_path, stand_ins, capsys, monkeypatch):
    wheel = _binary_wheel(tmp_path, stand_ins, "tfdemo", ["stdc++", "gcc_s", "m"], requires=["numpy>=1.16"])
    assert {"libstdc++.so.6", "libgcc_s.so.1", "libm.so.6"} <= set(audit_wheel(str(wheel)).elf_files[0].needed)
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run_nix(capsys, wheel)
    assert code == 0
    result = _eval(tmp_path, out, native=[CC], python=["numpy"])
    assert result["buildInputs"] == [CC]
    assert result["nativeBuildInputs"] == ["autoPatchelfHook"]
    assert result["dependencies"] == ["python3Packages.numpy"]
    assert result["pythonImportsCheck"] == ["tfdemo"]


def test_cuda_wheel_gets_cudapackages_and_the_driver_ignored(tmp_path, stand_ins, capsys, monkeypatch):
    wheel = _binary_wheel(tmp_path, stand_ins, "cudademo", ["cudart", "cublas", "cuda"],
                          requires=["nvidia-cublas-cu12; platform_system == 'Linux'"])
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run_nix(capsys, wheel)
    assert code == 0
    result = _eval(tmp_path, out, native=["cudaPackages.cuda_cudart", "cudaPackages.libcublas"])
    assert result["buildInputs"] == ["cudaPackages.cuda_cudart", "cudaPackages.libcublas"]
    assert result["autoPatchelfIgnoreMissingDeps"] == ["libcuda.so.1"]
    assert result["nativeBuildInputs"] == ["autoPatchelfHook", "autoAddDriverRunpath"]
    assert result["dependencies"] == []


def test_gl_and_x11_wheel_gets_libgl_and_libx11(tmp_path, stand_ins, capsys, monkeypatch):
    wheel = _binary_wheel(tmp_path, stand_ins, "gldemo", ["GL", "X11"])
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run_nix(capsys, wheel)
    assert code == 0
    assert _eval(tmp_path, out, native=["libGL", "libx11"])["buildInputs"] == ["libGL", "libx11"]


def test_pure_wheel_gets_no_patching(tmp_path, capsys, monkeypatch):
    wheel = make_wheel(tmp_path / "dist", "puredemo", "2.0", files={"puredemo.py": b""}, requires=["PyYAML"])
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run_nix(capsys, wheel)
    assert code == 0
    result = _eval(tmp_path, out, python=["pyyaml"])
    assert result["nativeBuildInputs"] == [] and result["buildInputs"] == []
    assert result["src"] == {"path": str(wheel)}


def test_unknown_soname_is_warned_about_and_kept_as_a_comment(tmp_path, stand_ins, capsys, monkeypatch):
    wheel = _binary_wheel(tmp_path, stand_ins, "odd", ["mystery"])
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_nix(capsys, wheel)
    assert code == 0
    assert "libmystery.so.3" in err and "# unknown to the soname map, add its input: libmystery.so.3" in out
    assert _eval(tmp_path, out)["buildInputs"] == []


def test_map_file_names_an_input_for_an_unknown_soname(tmp_path, stand_ins, capsys, monkeypatch):
    wheel = _binary_wheel(tmp_path, stand_ins, "odd", ["mystery"])
    mapping = tmp_path / "map.toml"
    mapping.write_text('schema = 1\n\n[[provider]]\nattribute = "mystery"\nsonames = ["libmystery.so.3"]\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_nix(capsys, wheel, "--map", mapping)
    assert code == 0 and "libmystery" not in err
    assert _eval(tmp_path, out, native=["mystery"])["buildInputs"] == ["mystery"]


def test_url_gives_fetchurl_with_the_sri_hash_of_the_file(tmp_path, stand_ins, capsys):
    wheel = _binary_wheel(tmp_path, stand_ins, "tfdemo", ["stdc++"])
    code, out, _ = _run_nix(capsys, wheel, "--url", "http://127.0.0.1:8080/files/")
    assert code == 0
    src = _eval(tmp_path, out, native=[CC])["src"]
    assert src["url"] == "http://127.0.0.1:8080/files/" + wheel.name
    assert src["hash"] == "sha256-" + base64.b64encode(hashlib.sha256(wheel.read_bytes()).digest()).decode()


def test_one_url_for_several_wheels_is_a_usage_error(tmp_path, capsys):
    a = make_wheel(tmp_path, "one", files={"one.py": b""})
    b = make_wheel(tmp_path, "two", files={"two.py": b""})
    code, _, err = _run_nix(capsys, a, b, "--url", "http://127.0.0.1/x.whl")
    assert code == 2 and "--url" in err


def test_python_version_option_selects_the_dependencies(tmp_path, capsys, monkeypatch):
    wheel = make_wheel(tmp_path / "dist", "puredemo", files={"puredemo.py": b""},
                       requires=["tomli; python_version < '3.11'", "attrs"])
    monkeypatch.chdir(tmp_path)
    _, old, _ = _run_nix(capsys, wheel, "--python-version", "3.10")
    _, new, _ = _run_nix(capsys, wheel, "--python-version", "3.12")
    assert _eval(tmp_path, old, python=["tomli", "attrs"])["dependencies"] == ["python3Packages.attrs",
                                                                              "python3Packages.tomli"]
    assert _eval(tmp_path, new, python=["attrs"])["dependencies"] == ["python3Packages.attrs"]


def test_several_wheels_print_one_expression_each(tmp_path, capsys, monkeypatch):
    make_wheel(tmp_path / "dist", "one", files={"one.py": b""})
    make_wheel(tmp_path / "dist", "two", files={"two.py": b""})
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run_nix(capsys, tmp_path / "dist")
    assert code == 0
    chunks = out.split("\n# ")
    assert len(chunks) == 2
    for i, chunk in enumerate(chunks):
        text = chunk if i == 0 else "# " + chunk
        assert _eval(tmp_path, text)["pname"] in ("one", "two")


def test_several_wheels_with_output_make_one_package_set(tmp_path, stand_ins, capsys):
    base = _binary_wheel(tmp_path, stand_ins, "basedemo", ["stdc++"])
    make_wheel(tmp_path / "dist", "appdemo", files={"appdemo.py": b""}, requires=["basedemo", "numpy"])
    out_file = tmp_path / "nix" / "wheels.nix"
    out_file.parent.mkdir()
    code, out, _ = _run_nix(capsys, tmp_path / "dist", "-o", out_file)
    assert code == 0 and out == ""
    result = evaluate_file(out_file, native=[CC], python=["numpy"], package_set=True)
    assert sorted(result) == ["appdemo", "basedemo"]
    assert result["appdemo"]["dependencies"] == ["python3Packages.basedemo", "python3Packages.numpy"]
    assert result["basedemo"]["buildInputs"] == [CC]
    assert result["basedemo"]["src"] == {"path": str(base)}
    assert "../dist/" in out_file.read_text()  # relative to the output file's folder


def test_package_set_for_an_explicit_python_version_uses_its_package_set(tmp_path, capsys):
    make_wheel(tmp_path / "dist", "one", files={"one.py": b""})
    make_wheel(tmp_path / "dist", "two", files={"two.py": b""})
    out_file = tmp_path / "wheels.nix"
    code, _, _ = _run_nix(capsys, tmp_path / "dist", "-o", out_file, "--python-version", "3.12")
    assert code == 0 and "pkgs.python312Packages.overrideScope" in out_file.read_text()
    assert sorted(evaluate_file(out_file, native=[], package_set=True)) == ["one", "two"]


def test_bad_wheel_among_several_is_reported_and_the_others_still_written(tmp_path, capsys, monkeypatch):
    make_wheel(tmp_path / "dist", "good", files={"good.py": b""})
    (tmp_path / "dist" / "bad-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_nix(capsys, tmp_path / "dist")
    assert code == 1 and "bad-1.0-py3-none-any.whl" in err
    assert _eval(tmp_path, out)["pname"] == "good"


def test_not_a_wheel_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "broken-1.0-py3-none-any.whl"
    bad.write_bytes(b"this is not a zip file")
    code, out, err = _run_nix(capsys, bad)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "broken-1.0-py3-none-any.whl" in err


def test_sdist_is_named_as_one_and_not_built(tmp_path, capsys):
    sdist = make_sdist(tmp_path, "demo", "1.0", files={"setup.py": "raise SystemExit('must not run')\n"})
    wheel = make_wheel(tmp_path, "other", "1.0")
    code, out, err = _run_nix(capsys, wheel, sdist, "-o", tmp_path / "set.nix")
    assert code == 1 and out == "" and not (tmp_path / "set.nix").exists()
    assert err.splitlines() == [f"wheelmeta: error: {sdist}: an sdist (a gzip file), not a wheel: for an sdist's "
                                "dependencies use `wheelmeta metadata`"]


def test_remote_wheel_with_its_sha256_is_read_over_http_and_fetched_by_url(tmp_path, stand_ins, capsys):
    wheel = _binary_wheel(tmp_path, stand_ins, "gldemo", ["GL"], requires=["numpy"])
    with IndexServer(wheel.parent, ranges="ok") as server:
        url = server.file_url(wheel.name)
        code, out, _ = _run_nix(capsys, f"{url}#sha256={server.sha256(wheel.name)}")
    assert code == 0
    result = _eval(tmp_path, out, native=["libGL"], python=["numpy"])
    assert result["src"]["url"] == url
    assert result["src"]["hash"] == "sha256-" + base64.b64encode(hashlib.sha256(wheel.read_bytes()).digest()).decode()
    assert result["buildInputs"] == ["libGL"] and result["pythonImportsCheck"] == ["gldemo"]


def test_remote_wheel_without_its_sha256_is_a_usage_error(tmp_path, capsys):
    wheel = make_wheel(tmp_path, "one", files={"one.py": b""})
    with IndexServer(tmp_path, ranges="ok") as server:
        code, out, err = _run_nix(capsys, server.file_url(wheel.name))
    assert code == 2 and out == "" and "#sha256=" in err


def test_native_input_named_like_a_wheel_of_the_set_is_taken_from_pkgs(tmp_path, stand_ins, capsys):
    _binary_wheel(tmp_path, stand_ins, "odd", ["mystery"])
    make_wheel(tmp_path / "dist", "mystery", files={"mystery.py": b""})
    mapping = tmp_path / "map.toml"
    mapping.write_text('schema = 1\n\n[[provider]]\nattribute = "mystery"\nsonames = ["libmystery.so.3"]\n')
    out_file = tmp_path / "wheels.nix"
    code, _, _ = _run_nix(capsys, tmp_path / "dist", "--map", mapping, "-o", out_file)
    assert code == 0
    result = evaluate_file(out_file, native=["mystery"], package_set=True)
    assert result["odd"]["buildInputs"] == ["mystery"]  # the native stand-in, not python3Packages.mystery


# -- platforms nixpkgs can and cannot use, meta.platforms and the interpreter guard ----------------------------------


def test_windows_wheel_is_refused_with_one_line_that_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wheel = make_wheel(tmp_path / "dist", "windemo", "1.0", tag="cp311-cp311-win_amd64",
                       files={"windemo/__init__.py": b"", "windemo/_x.pyd": b"MZ" + b"\0" * 100})
    code, out, err = _run_nix(capsys, wheel)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "windemo" in err and "Windows" in err


def test_musllinux_wheel_is_refused_since_glibc_python_cannot_load_it(tmp_path, capsys, monkeypatch, stand_ins):
    monkeypatch.chdir(tmp_path)
    ext = compile_so(tmp_path / "build", EXT, PYEXT_SOURCE.format(module="_core"))
    wheel = make_wheel(tmp_path / "dist", "musldemo", "1.0", tag="cp311-cp311-musllinux_1_2_x86_64",
                       files={"musldemo/__init__.py": b"", f"musldemo/{EXT}": ext.read_bytes()})
    code, out, err = _run_nix(capsys, wheel)
    assert code == 1 and out == "" and "musl" in err and "manylinux" in err


def test_macos_wheel_gets_darwin_platforms_and_no_autopatchelf(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wheel = make_wheel(tmp_path / "dist", "macdemo", "1.0", tag="cp312-cp312-macosx_11_0_universal2",
                       files={"macdemo/__init__.py": b"", "macdemo/_x.so": b"\xcf\xfa\xed\xfe" * 30})
    code, out, err = _run_nix(capsys, wheel)
    assert code == 0, err
    assert "autoPatchelfHook" not in out and "Mach-O files are not audited" in out
    result = _eval(tmp_path, out)
    assert result["meta"]["platforms"] == ["aarch64-darwin", "x86_64-darwin"]


def test_cpython_wheel_is_disabled_on_every_other_python_version(tmp_path, capsys, monkeypatch, stand_ins):
    monkeypatch.chdir(tmp_path)
    wheel = _binary_wheel(tmp_path, stand_ins, "demo", libs=[])  # cp311, manylinux_2_17_x86_64
    code, out, err = _run_nix(capsys, wheel)
    assert 'disabled = pythonOlder "3.11" || pythonAtLeast "3.12";' in out
    result = _eval(tmp_path, out)
    assert result["disabled"] is True  # the stub scope's python is 3.13
    assert result["meta"]["platforms"] == ["x86_64-linux"]


def test_abi3_wheel_is_disabled_only_below_its_version(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ext = compile_so(tmp_path / "build", "_core.abi3.so", PYEXT_SOURCE.format(module="_core"))
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", tag="cp39-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64",
                       files={"demo/__init__.py": b"", "demo/_core.abi3.so": ext.read_bytes()})
    code, out, err = _run_nix(capsys, wheel)
    assert 'disabled = pythonOlder "3.9";' in out
    result = _eval(tmp_path, out)
    assert result["disabled"] is False and result["meta"]["platforms"] == ["aarch64-linux"]


def test_pure_wheel_has_no_guard_and_no_platforms(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wheel = make_wheel(tmp_path / "dist", "puredemo", "1.0", files={"puredemo/__init__.py": b""})
    code, out, err = _run_nix(capsys, wheel)
    assert "disabled" not in out and "platforms" not in out
    assert _eval(tmp_path, out)["disabled"] is False


def test_pure_wheel_with_several_architectures_is_written_for_the_targets(tmp_path, capsys, monkeypatch, multiarch_wheel):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_nix(capsys, multiarch_wheel)  # default target: x86_64, which needs nothing from outside
    assert code == 0 and "libarmonly" not in out + err and "libi686only" not in out + err
    assert _eval(tmp_path, out)["meta"]["platforms"] == ["x86_64-linux"]
    code, out, err = _run_nix(capsys, multiarch_wheel, "--platform", "manylinux2014_aarch64")
    assert "unknown to the soname map, add its input: libarmonly.so.2" in out and "libi686only" not in out
    # x86_64's members need nothing those inputs lack, i686's need libi686only.so.3
    assert _eval(tmp_path, out)["meta"]["platforms"] == ["aarch64-linux", "x86_64-linux"]


@pytest.mark.parametrize("tag", ["manylinux_2__x86_64", "manylinux__x86_64", "manylinux_2_17_"])
def test_platform_tag_nix_cannot_place_is_a_one_line_error_naming_the_file_with_exit_1(tmp_path, capsys, tag):
    wheel = make_wheel(tmp_path, "demo", "1.0", tag=f"cp311-cp311-{tag}", files={"demo/__init__.py": b""})
    code, out, err = _run_nix(capsys, wheel)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and wheel.name in err


def test_empty_tag_component_gives_scan_and_nix_the_same_clean_error(tmp_path, capsys):
    wheel = make_wheel(tmp_path, "demo", "1.0", files={"demo/__init__.py": b""},
                       filename="demo-1.0-py3-none-linux_x86_64..any.whl")
    nix_code, _, nix_err = _run_nix(capsys, wheel)
    scan_code = main(["scan", str(wheel)])
    _, scan_err = capsys.readouterr()
    assert nix_code == scan_code == 1
    assert nix_err == scan_err and "empty component" in nix_err and len(nix_err.strip().splitlines()) == 1


def test_needed_name_with_a_byte_that_is_not_utf8_is_written_as_that_byte(tmp_path):
    import subprocess
    import sys

    from elfbuild import hand_built_elf
    from nixstub import nix_parse

    elf = hand_built_elf(needed=["libc.so.6", "libodd.so.6"], machine="x86_64").replace(b"libodd.so.6\0",
                                                                                       b"libodd.so\xae6\0")
    wheel = make_wheel(tmp_path, "demo", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64",
                       files={"demo/__init__.py": b"", "demo/_c.so": elf})
    run = subprocess.run([sys.executable, "-m", "wheelmeta", "-q", "nix", str(wheel)], capture_output=True,
                         env=_UTF8_LOCALE)
    assert run.returncode == 0 and b"libodd.so\xae6" in run.stdout
    out = tmp_path / "demo.nix"
    out.write_bytes(run.stdout)
    nix_parse(out)


# stdout as on a machine with a UTF-8 locale such as en_US.UTF-8: strict (under C or C.UTF-8, Python escapes
# surrogates by itself)
_UTF8_LOCALE = {**__import__("os").environ, "PYTHONIOENCODING": "utf-8:strict"}
