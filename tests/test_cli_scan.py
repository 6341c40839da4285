"""`wheelmeta scan`: the command a maintainer types, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from builders import make_sdist, make_wheel
from elfbuild import PYEXT_SOURCE, compile_so
from multiarch import multiarch_wheel  # noqa: F401  (a fixture)

ELF_KEYS = {"path", "needed", "soname", "rpath", "runpath", "interpreter", "machine", "version_requirements"}
# keys every wheel's object has, whatever its format; then the keys of each format's own facts
WHEEL_KEYS = {"wheel", "kind", "format", "carried_libs", "external_libs", "overall_tag", "claimed_tags", "claims_hold",
              "problems"}
FORMAT_KEYS = {
    "elf": {"elf_files", "versioned_symbols", "sym_tag", "policy_libs"},
    None: {"elf_files"},
    "macho": {"binaries", "system_libs", "missing_libs", "archs", "min_os"},
}


def scan(*args: str, cwd=None):
    return subprocess.run([sys.executable, "-m", "wheelmeta", "scan", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def wheels(tmp_path):
    outside = compile_so(tmp_path / "sys", "liboutside.so.3", "int outside(void){return 3;}", soname="liboutside.so.3")
    ext = compile_so(tmp_path / "b", "_out.cpython-311-x86_64-linux-gnu.so",
                     PYEXT_SOURCE.format(module="_out") + "int outside(void);\nint h(void){return outside();}\n",
                     libs=[":liboutside.so.3"], lib_dirs=[outside.parent])
    folder = tmp_path / "dist"
    binary = make_wheel(folder, "demo", "1.0", tag="cp311-cp311-manylinux2014_x86_64",
                        files={"demo/_out.cpython-311-x86_64-linux-gnu.so": ext.read_bytes()})
    pure = make_wheel(folder, "puredemo", "1.0", files={"puredemo/__init__.py": b""})
    mac = make_wheel(folder, "macdemo", "1.0", tag="cp311-cp311-macosx_11_0_arm64", files={"macdemo/_x.so": b"\xcf\xfa\xed\xfe" * 20})
    return folder, binary, pure, mac


def test_json_is_one_array_with_every_documented_key(wheels):
    folder, binary, pure, mac = wheels
    result = scan("--json", str(folder / "*.whl"))  # a quoted glob: expanded by wheelmeta itself
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(o["wheel"] for o in data) == sorted(str(p) for p in (binary, pure, mac))
    for obj in data:
        assert WHEEL_KEYS | FORMAT_KEYS[obj["format"]] <= set(obj)
    assert {o["format"] for o in data} == {"elf", None, "macho"}
    demo = next(o for o in data if o["wheel"] == str(binary))
    assert demo["external_libs"] == {"liboutside.so.3": ["demo/_out.cpython-311-x86_64-linux-gnu.so"]}
    assert ELF_KEYS <= set(demo["elf_files"][0]) and "liboutside.so.3" in demo["elf_files"][0]["needed"]


def test_text_names_the_verdict_and_who_needs_each_external_library(wheels):
    folder, binary, pure, mac = wheels
    result = scan(str(binary), str(pure), str(mac))
    assert result.returncode == 0, result.stderr
    assert "does NOT hold" in result.stdout and "linux_x86_64" in result.stdout
    assert "liboutside.so.3" in result.stdout and "demo/_out.cpython-311-x86_64-linux-gnu.so" in result.stdout
    assert "pure wheel" in result.stdout
    assert "problem: macdemo/_x.so: absurd load command count" in result.stdout  # read, not skipped as non-Linux


def test_missing_file_is_a_usage_error_on_one_line(tmp_path):
    result = scan(str(tmp_path / "nope-1.0-py3-none-any.whl"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_file_that_is_not_a_zip_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad-1.0-cp311-cp311-linux_x86_64.whl"
    bad.write_bytes(b"not a zip at all" * 10)
    result = scan(str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and str(bad) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["tar.gz", "zip", "tar.bz2"])
def test_sdist_is_named_as_one_with_the_command_that_reads_it(tmp_path, fmt):
    sdist = make_sdist(tmp_path, "demo", "1.0", fmt=fmt)
    result = scan(str(sdist))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"wheelmeta: error: {sdist}: an sdist ({_ARCHIVE_KIND[fmt]}), not a wheel: for an sdist's dependencies use "
        "`wheelmeta metadata`"]


_ARCHIVE_KIND = {"tar.gz": "a gzip file", "zip": "a zip file", "tar.bz2": "a bzip2 file"}


def test_tar_file_named_like_a_wheel_is_named_for_what_it_is(tmp_path):
    sdist = make_sdist(tmp_path, "demo", "1.0", fmt="tar.gz")
    renamed = sdist.rename(tmp_path / "demo-1.0-py3-none-any.whl")
    result = scan(str(renamed))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"wheelmeta: error: {renamed}: a gzip file, not a wheel (a wheel is a zip "
                                          "file); if it is an sdist, `wheelmeta metadata` reads it"]


def test_elf_file_given_for_a_wheel_is_named_as_one(tmp_path):
    library = compile_so(tmp_path, "libdemo.so.1", "int demo(void){return 1;}", soname="libdemo.so.1")
    result = scan(str(library))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"wheelmeta: error: {library}: an ELF file, not a wheel: scan and nix read "
                                          "the ELF files inside wheels"]


def test_missing_map_file_is_a_usage_error_naming_it(tmp_path, wheels):
    _, binary, _, _ = wheels
    missing = tmp_path / "nothere.toml"
    result = scan(str(binary), "--map", str(missing))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"wheelmeta: error: {missing}: no such file (given to --map)"]


def test_unknown_option_prints_the_subcommands_usage(tmp_path, wheels):
    _, binary, _, _ = wheels
    result = scan(str(binary), "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: wheelmeta scan ")
    assert result.stderr.splitlines()[-1] == "wheelmeta scan: error: unrecognized arguments: --bogus"


def test_unreadable_wheel_does_not_stop_the_others(tmp_path, wheels):
    folder, binary, pure, mac = wheels
    bad = tmp_path / "bad-1.0-cp311-cp311-linux_x86_64.whl"
    bad.write_bytes(b"PK" + b"\0" * 100)
    result = scan("--json", str(bad), str(binary))
    data = json.loads(result.stdout)
    assert result.returncode == 1 and "error" in data[0] and data[1]["wheel"] == str(binary)


def test_text_notes_how_nix_provides_each_library_and_sums_up_the_inputs(tmp_path):
    ext = compile_so(tmp_path / "b", "_z.cpython-311-x86_64-linux-gnu.so",
                     PYEXT_SOURCE.format(module="_z") + "const char *zlibVersion(void);\nconst char *v(void){return zlibVersion();}\n",
                     libs=[":libz.so.1"])  # the runtime library itself: no zlib headers needed
    wheel = make_wheel(tmp_path / "dist", "zdemo", "1.0", tag="cp311-cp311-manylinux2014_x86_64",
                       files={"zdemo/_z.cpython-311-x86_64-linux-gnu.so": ext.read_bytes()})
    result = scan(str(wheel))
    assert result.returncode == 0, result.stderr
    assert "libz.so.1 [nixpkgs: zlib]" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].strip() == "nix:      buildInputs = [ zlib ]"


def test_unknown_library_is_said_loudly_in_text(wheels):
    folder, binary, pure, mac = wheels
    result = scan(str(binary))
    assert "liboutside.so.3" in result.stdout and "UNKNOWN to the soname map" in result.stdout
    assert "UNKNOWN: liboutside.so.3" in result.stdout.splitlines()[-1]


def test_members_lists_every_elf_file_with_each_need_marked(wheels):
    folder, binary, pure, mac = wheels
    plain = scan(str(binary)).stdout
    result = scan("--members", str(binary))
    assert "demo/_out.cpython-311-x86_64-linux-gnu.so" in result.stdout
    assert "      x liboutside.so.3" in result.stdout and "      a libc.so.6" in result.stdout
    assert "      x liboutside.so.3" not in plain


def test_members_marks_the_program_loader_as_the_systems_not_carried(tmp_path):
    program = compile_so(tmp_path / "b", "tool", "int main(void){return 0;}\n", executable=True)
    user = compile_so(tmp_path / "b", "_ld.so", PYEXT_SOURCE.format(module="_ld") + "extern int _dl_find_object;\n"
                      "void *p(void){return &_dl_find_object;}\n", libs=[":ld-linux-x86-64.so.2"],
                      lib_dirs=["/lib64", "/lib/x86_64-linux-gnu"])
    wheel = make_wheel(tmp_path / "dist", "tooldemo", "1.0", tag="py3-none-manylinux2014_x86_64",
                       files={"tooldemo/_ld.so": user.read_bytes(), "tooldemo-1.0.data/scripts/tool": program.read_bytes()})
    out = scan("--members", str(wheel)).stdout
    assert "      l ld-linux-x86-64.so.2" in out and "l /lib64/ld-linux-x86-64.so.2  (program interpreter)" in out
    assert "c ld-linux" not in out and "carried in the wheel: 0" in out


def test_pure_wheel_with_several_architectures_says_what_each_needs(multiarch_wheel):
    result = scan(str(multiarch_wheel))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for arch, need in (("aarch64", "libarmonly.so.2"), ("i686", "libi686only.so.3"), ("x86_64", None)):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  for {arch}: "))
        external = lines[at + 1] if lines[at + 1].startswith("    external") else lines[at + 2]
        assert (need in external) if need else external.strip() == "external: none"


def test_platform_judges_the_wheel_for_that_architecture(multiarch_wheel):
    data = json.loads(scan("--json", "--platform", "manylinux2014_aarch64", str(multiarch_wheel)).stdout)[0]
    assert data["arch"] == "aarch64" and data["overall_tag"] == "linux_aarch64"
    assert list(data["external_libs"]) == ["libarmonly.so.2"]
    assert sorted(data["architectures"]) == ["aarch64", "i686", "x86_64"]
    assert data["architectures"]["i686"]["nix"]["unknown"] == ["libi686only.so.3"]
    assert data["architectures"]["x86_64"]["nix"]["unknown"] == []


def test_platform_that_names_no_linux_architecture_is_a_usage_error(multiarch_wheel):
    result = scan("--platform", "win_amd64", str(multiarch_wheel))
    assert result.returncode == 2 and "win_amd64: not a Linux platform tag" in result.stderr
    assert "Traceback" not in result.stderr


def test_needed_name_with_a_byte_that_is_not_utf8_is_no_traceback_in_the_text_output(tmp_path):
    from elfbuild import hand_built_elf

    elf = hand_built_elf(needed=["libc.so.6", "libodd.so.6"], machine="x86_64").replace(b"libodd.so.6\0",
                                                                                       b"libodd.so\xae6\0")
    wheel = make_wheel(tmp_path, "demo", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64",
                       files={"demo/__init__.py": b"", "demo/_c.so": elf})
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "-q", "scan", "--members", str(wheel)],
                            capture_output=True, env=_UTF8_LOCALE)
    assert result.returncode == 0 and b"libodd.so\xae6" in result.stdout and b"Traceback" not in result.stderr


# stdout as on a machine with a UTF-8 locale such as en_US.UTF-8: strict (under C or C.UTF-8, Python escapes
# surrogates by itself)
_UTF8_LOCALE = {**__import__("os").environ, "PYTHONIOENCODING": "utf-8:strict"}
