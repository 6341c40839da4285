"""manylinux.elf: facts read from streams of real compiled objects (and hand-built ones where no toolchain exists)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from elfbuild import PYEXT_SOURCE, compile_so, hand_built_elf, patch
from wheelmeta.manylinux import elf as elf_module
from wheelmeta.manylinux.elf import read_elf_facts


def chunks_of(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def facts_of(path: Path, **kw):
    return read_elf_facts(chunks_of(path.read_bytes()), path.name, size=path.stat().st_size, **kw)


def readelf(*args: str) -> str:
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) not installed")
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def libdemo(tmp_path):
    """A library with DT_NEEDED on libm and libz (real version needs), a SONAME and an $ORIGIN RPATH."""
    source = "#include <math.h>\n#include <zlib.h>\ndouble f(double x){return cos(x) + crc32_z(0, 0, 0);}\n"
    return compile_so(tmp_path, "libdemo.so", source, soname="libdemo.so.1", rpath=["$ORIGIN/../x.libs"], libs=["m", "z"])


def test_needed_soname_and_rpath_match_readelf(libdemo):
    facts = facts_of(libdemo)
    dynamic = readelf("-d", str(libdemo))
    assert list(facts.needed) == re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dynamic)
    assert {"libm.so.6", "libz.so.1", "libc.so.6"} <= set(facts.needed)
    assert facts.soname == "libdemo.so.1"
    assert facts.rpath == ("$ORIGIN/../x.libs",) and facts.runpath == ()
    assert (facts.elf_class, facts.endian, facts.machine) == (64, "little", "x86_64")
    assert facts.problems == ()


def test_runpath_is_reported_apart_from_rpath(tmp_path):
    lib = compile_so(tmp_path, "librun.so", "int f(void){return 0;}", runpath=["$ORIGIN", "/opt/x"])
    facts = facts_of(lib)
    assert facts.runpath == ("$ORIGIN", "/opt/x") and facts.rpath == ()


def test_version_requirements_match_readelf_V(libdemo):
    facts = facts_of(libdemo)
    expected, current = {}, None
    for line in readelf("-V", str(libdemo)).splitlines():
        file_match = re.search(r"File: (\S+)", line)
        name_match = re.search(r"Name: (\S+)\s+Flags", line)
        if file_match:
            current = file_match.group(1)
            expected[current] = set()
        elif name_match and current:
            expected[current].add(name_match.group(1))
    assert {lib: set(v) for lib, v in facts.version_requirements.items()} == expected
    assert "libz.so.1" in facts.version_requirements  # crc32_z comes with a ZLIB_ version


def test_python_extension_init_function_is_found(tmp_path):
    ext = compile_so(tmp_path, "_speedups.cpython-311-x86_64-linux-gnu.so", PYEXT_SOURCE.format(module="_speedups"))
    plain = compile_so(tmp_path, "libplain.so", "int f(void){return 0;}")
    assert facts_of(ext).python_init == "PyInit__speedups"
    assert facts_of(plain).python_init is None


@pytest.mark.parametrize("style", ["gnu", "sysv"])
def test_init_function_is_found_through_either_hash_table(tmp_path, style):
    ext = compile_so(tmp_path, "_h.cpython-311-x86_64-linux-gnu.so", PYEXT_SOURCE.format(module="_h") + "int other(void){return 1;}\n",
                     extra=[f"-Wl,--hash-style={style}"])
    assert facts_of(ext).python_init == "PyInit__h"


def test_dropped_ranges_asked_together_cost_one_second_pass(monkeypatch):
    from wheelmeta.manylinux.elf import _Window

    monkeypatch.setattr(elf_module, "TAIL", 0)

    data = bytes(range(256)) * 64
    passes = []

    def reopen():
        passes.append(1)
        return chunks_of(data, 1000)

    window = _Window(chunks_of(data, 1000), reopen, keep=0)
    window.read(len(data) - 10, 10)  # the stream is consumed to its end, nothing kept
    parts = window.read_many([(5, 3), (4000, 2), (9000, 4)])
    assert parts == [data[5:8], data[4000:4002], data[9000:9004]]
    assert len(passes) == 1


def test_watched_undefined_symbols_are_reported(tmp_path):
    source = "extern int __cxa_thread_atexit_impl(void*, void*, void*);\nint f(void){return __cxa_thread_atexit_impl(0, 0, 0);}\n"
    lib = compile_so(tmp_path, "libtls.so", source)
    facts = facts_of(lib, watch_symbols={"libc.so.6": {"__cxa_thread_atexit_impl", "pthread_getattr_default_np"}})
    assert facts.watched_symbols == ("__cxa_thread_atexit_impl",)
    # a watch keyed by a library it does not need is not even looked at
    assert facts_of(lib, watch_symbols={"libz.so.1": {"__cxa_thread_atexit_impl"}}).watched_symbols == ()


def test_x86_isa_level_is_read_from_the_gnu_property_note(tmp_path):
    try:
        lib = compile_so(tmp_path, "libv3.so", "int f(int x){return x*3;}", extra=["-Wl,-z,x86-64-v3"])
    except RuntimeError:
        pytest.skip("the linker does not know -z x86-64-v3")
    if "x86-64-v3" not in readelf("-n", str(lib)):
        pytest.skip("the linker wrote no ISA note")
    assert facts_of(lib).isa_extension == "x86_64_v3"
    assert facts_of(compile_so(tmp_path, "libv1.so", "int f(void){return 0;}")).isa_extension is None


def test_32_bit_compiled_object_with_version_needs(tmp_path):
    dep = compile_so(tmp_path, "libdep32.so", "int dep(void){return 2;}", soname="libdep32.so", m32=True,
                     version_script="DEP_1.0 { global: dep; local: *; };")
    lib = compile_so(tmp_path, "main32.so", "int dep(void); int f(void){return dep();}", m32=True,
                     libs=["dep32"], lib_dirs=[dep.parent], runpath=["$ORIGIN/x.libs"])
    facts = facts_of(lib)
    assert (facts.elf_class, facts.endian, facts.machine) == (32, "little", "i686")
    assert facts.needed == ("libdep32.so",) and facts.runpath == ("$ORIGIN/x.libs",)
    assert facts.version_requirements == {"libdep32.so": ("DEP_1.0",)}


@pytest.mark.parametrize("elf_class", [32, 64])
def test_big_endian_objects(tmp_path, elf_class):
    data = hand_built_elf(elf_class=elf_class, little=False, machine="s390x" if elf_class == 64 else "ppc64",
                          needed=["libc.so.6", "libfoo.so.1"], soname="libbe.so", runpath="$ORIGIN/../be.libs",
                          verneed={"libc.so.6": ["GLIBC_2.17", "GLIBC_2.2"], "libfoo.so.1": ["FOO_1"]})
    path = tmp_path / "libbe.so"
    path.write_bytes(data)
    facts = facts_of(path)
    assert facts.endian == "big" and facts.elf_class == elf_class
    assert facts.needed == ("libc.so.6", "libfoo.so.1") and facts.soname == "libbe.so"
    assert facts.version_requirements == {"libc.so.6": ("GLIBC_2.17", "GLIBC_2.2"), "libfoo.so.1": ("FOO_1",)}
    assert list(facts.needed) == re.findall(r"Shared library: \[(.*)\]", readelf("-d", str(path)))
    if elf_class == 64:
        assert facts.machine == "s390x"


def test_stops_consuming_the_stream_after_the_last_needed_byte(tmp_path):
    # 4 MiB of initialized data lands after .dynamic: nothing there is needed
    lib = compile_so(tmp_path, "libbig.so", "char blob[4 << 20] = {1};\nint f(void){return blob[0];}", libs=["m"])
    data = lib.read_bytes()
    consumed = []

    def stream():
        for chunk in chunks_of(data, 65536):
            consumed.append(len(chunk))
            yield chunk

    facts = read_elf_facts(stream(), lib.name)
    assert "libm.so.6" in facts.needed
    assert sum(consumed) < len(data) // 2


def test_range_dropped_from_the_kept_prefix_is_read_again_through_reopen(libdemo, monkeypatch):
    monkeypatch.setattr(elf_module, "TAIL", 0)  # nothing held behind the stream position either
    data = libdemo.read_bytes()
    reopened = []

    def reopen():
        reopened.append(1)
        return chunks_of(data)

    kept_nothing = read_elf_facts(chunks_of(data), libdemo.name, keep=0, reopen=reopen)
    assert kept_nothing.needed == facts_of(libdemo).needed and reopened
    without_reopen = read_elf_facts(chunks_of(data), libdemo.name, keep=0)
    assert any("kept prefix" in p for p in without_reopen.problems)


# -- malformed input: a problems entry, never an exception ---------------------------------------------------------


def _program_header(path: Path, p_type: str):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for i, seg in enumerate(elf.iter_segments()):
            if seg["p_type"] == p_type:
                return elf["e_phoff"] + i * elf["e_phentsize"], seg.header
    raise AssertionError(p_type)


def test_truncated_member_is_a_problem(libdemo):
    dyn_at, dyn = _program_header(libdemo, "PT_DYNAMIC")
    data = libdemo.read_bytes()[: dyn.p_offset + 8]
    facts = read_elf_facts(chunks_of(data), "cut.so")
    assert facts.needed == () and any("ends at byte" in p for p in facts.problems)


def test_absurd_program_header_count_is_a_problem(libdemo):
    patch(libdemo, 56, "<H", 60000)  # e_phnum of an ELF64 header
    facts = facts_of(libdemo)
    assert any("absurd" in p for p in facts.problems)


def test_dynamic_segment_outside_the_file_is_a_problem(libdemo):
    dyn_at, _ = _program_header(libdemo, "PT_DYNAMIC")
    patch(libdemo, dyn_at + 8, "<Q", 1 << 40)  # p_offset
    facts = facts_of(libdemo)
    assert any("dynamic segment" in p and "outside the file" in p for p in facts.problems)


def _dynamic_value_offset(path, tag: int) -> int:
    """File offset of the value (d_val) of the first 64-bit little-endian dynamic entry with ``tag``."""
    _, dyn = _program_header(path, "PT_DYNAMIC")
    raw = path.read_bytes()[dyn.p_offset : dyn.p_offset + dyn.p_filesz]
    at = next(i for i in range(0, len(raw), 16) if struct.unpack_from("<q", raw, i)[0] == tag)
    return dyn.p_offset + at + 8


def test_string_offset_out_of_range_is_a_problem_and_other_entries_survive(libdemo):
    patch(libdemo, _dynamic_value_offset(libdemo, 1), "<Q", 0x7FFFFFFF)  # the first DT_NEEDED
    facts = facts_of(libdemo)
    assert any("out of range" in p for p in facts.problems)
    assert "libc.so.6" in facts.needed


def test_version_needs_chain_that_loops_is_a_problem(tmp_path):
    data = bytearray(hand_built_elf(elf_class=32, machine="i686", needed=["libc.so.6", "libm.so.6"],
                                    verneed={"libc.so.6": ["GLIBC_2.0"], "libm.so.6": ["GLIBC_2.1"]}))
    first = data.index(struct.pack("<HH", 1, 1))  # vn_version=1, vn_cnt=1: the first Verneed
    second = first + 32
    struct.pack_into("<I", data, second + 12, (1 << 32) - 32)  # vn_next wraps back to the first entry
    count_at = data.index(struct.pack("<iI", 0x6FFFFFFF, 2))  # DT_VERNEEDNUM: let the walk go on
    struct.pack_into("<iI", data, count_at, 0x6FFFFFFF, 100)
    facts = read_elf_facts(chunks_of(bytes(data)), "loop.so", size=len(data))
    assert any("loops" in p for p in facts.problems)
    assert facts.needed == ("libc.so.6", "libm.so.6")


def test_absurd_verneed_count_is_a_problem(libdemo):
    patch(libdemo, _dynamic_value_offset(libdemo, 0x6FFFFFFF), "<Q", 0xFFFFFFFF)  # DT_VERNEEDNUM
    facts = facts_of(libdemo)
    assert any("DT_VERNEEDNUM" in p for p in facts.problems)


def test_not_an_elf_file_is_a_problem():
    facts = read_elf_facts(iter([b"#!/bin/sh\necho hi\n" * 10]), "script")
    assert facts.problems == ("not an ELF file",)


def test_spent_keep_budget_costs_a_second_pass_not_a_wrong_answer(libdemo):
    from wheelmeta.manylinux.elf import KeepBudget

    data = libdemo.read_bytes()
    budget = KeepBudget(0)
    facts = read_elf_facts(chunks_of(data), libdemo.name, reopen=lambda: chunks_of(data), budget=budget)
    assert facts.needed == facts_of(libdemo).needed and facts.version_requirements == facts_of(libdemo).version_requirements
    assert budget.available == 0


def test_reads_just_behind_the_stream_position_need_no_second_pass():
    from wheelmeta.manylinux.elf import _Window

    data = bytes(range(256)) * 64
    window = _Window(chunks_of(data, 1000), lambda: pytest.fail("no second pass expected"), keep=0)
    window.read(9000, 10)  # consumes up to byte 9000 in 1000-byte chunks
    assert window.read_many([(8500, 4), (8990, 20)]) == [data[8500:8504], data[8990:9010]]


def _hostile_verneed_elf(needs: int, versions: int) -> bytes:
    """A 64-bit object whose version needs are ``needs`` Verneed entries of ``versions`` Vernaux entries each
    (every entry well-formed, 16 bytes), all for one file and each version a distinct name: thousands by
    thousands of entries, which a walk bounded only by the counts takes minutes and gigabytes to read."""
    data = bytearray(hand_built_elf(verneed={"libc.so.6": ["GLIBC_2.2.5"]}, machine="x86_64"))
    strtab = (len(data) + 15) // 16 * 16
    names = b"v" * 5000 + b"\0"  # every offset into it is a different string
    verneed = (strtab + len(names) + 15) // 16 * 16
    aux = verneed + 16 * needs
    data += bytes(aux + 16 * needs * versions - len(data))
    data[strtab : strtab + len(names)] = names
    for k in range(needs):
        at, block = verneed + 16 * k, aux + 16 * versions * k
        struct.pack_into("<HHIII", data, at, 1, versions, 0, block - at, 16 if k + 1 < needs else 0)
        for j in range(versions):
            struct.pack_into("<IHHII", data, block + 16 * j, 0, 0, 2, (k * versions + j) % 5000,
                             16 if j + 1 < versions else 0)
    struct.pack_into("<QQ", data, 64 + 32, len(data), len(data))  # PT_LOAD covers it all (vaddr = offset)
    dyn_off = struct.unpack_from("<Q", data, 64 + 56 + 8)[0]
    for at in range(dyn_off, len(data), 16):
        tag = struct.unpack_from("<q", data, at)[0]
        value = {5: strtab, 10: len(names), 0x6FFFFFFE: verneed, 0x6FFFFFFF: needs}.get(tag)
        if value is not None:
            struct.pack_into("<Q", data, at + 8, value)
        if tag == 0:
            break
    return bytes(data)


def test_version_needs_walk_is_bounded_whatever_the_counts_say():
    data = _hostile_verneed_elf(needs=25, versions=4096)  # 102,400 entries, 1.6 MB
    facts = read_elf_facts(chunks_of(data), "hostile.so", size=len(data), reopen=lambda: chunks_of(data))
    assert any(f"more than {elf_module.MAX_VERNEED_ENTRIES} entries" in p for p in facts.problems)
    (versions,) = facts.version_requirements.values()
    assert 0 < len(versions) <= elf_module.MAX_VERNEED_ENTRIES


def test_version_needs_walk_is_bounded_by_the_bytes_the_member_has():
    data = _hostile_verneed_elf(needs=1, versions=64)
    cut = data[: len(data) - 16 * 60]  # the last 60 entries are not there: the walk stops at the data present
    facts = read_elf_facts(chunks_of(cut), "short.so", size=len(cut), reopen=lambda: chunks_of(cut))
    (versions,) = facts.version_requirements.values()
    assert len(versions) <= 4 and any("entries; the rest is not read" in p for p in facts.problems)
