"""binaries/macho.py: Mach-O facts from a member's stream, on dylibs linked by ld64.lld (see machobuild.py)."""

import struct

import pytest
from macholib import mach_o
from macholib.MachO import MachO

from machobuild import dylib, fat, i386_dylib
from wheelmeta.binaries.macho import is_macho, read_macho_facts


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("macho")
    libb = dylib(folder, "libb")
    weak = dylib(folder, "libweak", install_name="@loader_path/libweak.dylib")
    inner = dylib(folder, "libinner", install_name="/opt/homebrew/lib/libinner.dylib")
    ext = dylib(folder, "_ext", "int g(void) { return 2; }\n", links=[(libb, "load"), (weak, "weak")],
                rpaths=["@loader_path/.dylibs", "/usr/local/lib"], bundle=True)
    umbrella = dylib(folder, "libumbrella", links=[(inner, "reexport")])
    x86 = dylib(folder, "libb", arch="x86_64", min_os="10.9")
    return {"libb": libb, "ext": ext, "umbrella": umbrella, "x86": x86, "universal": fat(folder, "libb.universal", libb, x86)}


def facts_of(data: bytes, chunk: int = 4096, path: str = "pkg/x.so"):
    return read_macho_facts(iter([data[i : i + chunk] for i in range(0, len(data), chunk)]), path, len(data))


def test_thin_bundle_lists_each_dylib_with_its_load_command_and_the_rpaths(built):
    [s] = facts_of(built["ext"].read_bytes()).slices
    assert s.arch == "arm64" and s.bits == 64 and s.filetype == "bundle" and s.install_name is None
    assert s.dylibs == (("@rpath/libb.dylib", "load"), ("@loader_path/libweak.dylib", "weak"),
                        ("/usr/lib/libSystem.B.dylib", "load"))
    assert s.rpaths == ("@loader_path/.dylibs", "/usr/local/lib")


def test_reexported_dylib_is_marked_reexport(built):
    [s] = facts_of(built["umbrella"].read_bytes()).slices
    assert ("/opt/homebrew/lib/libinner.dylib", "reexport") in s.dylibs


def test_dylib_list_equals_macholibs_own_walk_of_the_whole_file(built):
    path = built["ext"]
    [header] = MachO(str(path)).headers
    assert [n for n, _ in facts_of(path.read_bytes()).slices[0].dylibs] == [n for _, _, n in header.walkRelocatables()]


def test_install_name_and_minimum_macos_from_build_version(built):
    [s] = facts_of(built["libb"].read_bytes()).slices
    assert s.install_name == "@rpath/libb.dylib" and (s.platform, s.min_os, s.sdk) == ("macOS", "11.0", "11.0")


def test_minimum_macos_from_version_min_macosx_on_old_x86_64_builds(built):
    data = built["x86"].read_bytes()
    assert MachO(str(built["x86"])).headers[0].commands  # the linker wrote LC_VERSION_MIN_MACOSX for 10.9
    [s] = facts_of(data).slices
    assert (s.arch, s.min_os) == ("x86_64", "10.9")


def test_fat_file_has_one_slice_per_architecture_each_with_its_own_minimum(built):
    facts = facts_of(built["universal"].read_bytes())
    assert facts.fat and {(s.arch, s.min_os) for s in facts.slices} == {("arm64", "11.0"), ("x86_64", "10.9")}


def test_32_bit_i386_dylib_is_read(built):
    data = i386_dylib("/opt/old/libold.dylib", ["/usr/lib/libSystem.B.dylib"])
    [s] = facts_of(data).slices
    assert (s.arch, s.bits, s.install_name, s.min_os) == ("i386", 32, "/opt/old/libold.dylib", "10.6")
    assert s.dylibs == (("/usr/lib/libSystem.B.dylib", "load"),)


def test_reading_stops_after_the_load_commands(built):
    data = built["ext"].read_bytes()
    consumed = 0

    def chunks():
        nonlocal consumed
        for i in range(0, len(data), 256):
            consumed += 256
            yield data[i : i + 256]

    assert read_macho_facts(chunks(), "x.so", len(data)).slices[0].dylibs
    assert consumed < len(data) // 4


def test_java_class_file_is_not_taken_for_a_fat_header():
    assert not is_macho(b"\xca\xfe\xba\xbe\x00\x00\x00\x34")
    assert is_macho(b"\xca\xfe\xba\xbe\x00\x00\x00\x02") and is_macho(b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01")


def test_a_64_bit_header_cut_at_the_32_bit_size_is_a_problem():
    data = b"\xcf\xfa\xed\xfe" + b"\x0c\x00\x00\x01" + b"\x00" * 20  # 28 bytes: found by the fuzz harness
    facts = read_macho_facts(iter([data]), "x.so", len(data))
    assert facts.slices == () and facts.problems == ("truncated Mach-O header",)


def test_truncated_load_commands_are_a_problem(built):
    data = built["ext"].read_bytes()[:200]
    facts = read_macho_facts(iter([data]), "x.so", len(data))
    assert facts.slices == () and facts.problems and "load commands" in facts.problems[0]


def test_absurd_load_command_count_is_a_problem_not_a_hang(built):
    data = bytearray(built["ext"].read_bytes())
    struct.pack_into("<I", data, 16, 0x7FFFFFFF)  # ncmds
    facts = facts_of(bytes(data))
    assert facts.slices == () and "absurd load command count" in facts.problems[0]


def test_fat_header_claiming_thousands_of_slices_is_a_problem(built):
    data = bytearray(built["universal"].read_bytes())
    struct.pack_into(">I", data, 4, 5000)
    assert "5000 slices" in facts_of(bytes(data)).problems[0]


def test_one_corrupt_slice_leaves_the_other_slice_read(built):
    data = bytearray(built["universal"].read_bytes())
    archs = [mach_o.fat_arch.from_str(bytes(data[8 + 20 * i : 28 + 20 * i])) for i in range(2)]
    broken = next(a for a in archs if mach_o.CPU_TYPE_NAMES.get(a.cputype) == "ARM64")
    first_command = broken.offset + 32
    struct.pack_into("<I", data, first_command + 4, 3)  # cmdsize smaller than a load command
    facts = facts_of(bytes(data))
    assert [s.arch for s in facts.slices] == ["x86_64"]
    assert len(facts.problems) == 1 and f"offset {broken.offset}" in facts.problems[0]


def test_slice_outside_the_file_is_a_problem(built):
    data = bytearray(built["universal"].read_bytes())
    struct.pack_into(">I", data, 8 + 8, len(data) + 4096)  # first slice's offset
    facts = facts_of(bytes(data))
    assert len(facts.slices) == 1 and "outside the file" in facts.problems[0]


def test_fuzz_round_of_mutated_dylibs_gives_facts_or_problems_never_an_exception(built):
    from machobuild import mutations

    for name in ("ext", "universal"):
        for mutant in mutations(built[name].read_bytes(), seed=14, rounds=150):
            facts = facts_of(mutant)
            assert facts.slices or facts.problems


def test_dylib_name_offset_outside_its_command_is_a_problem_and_no_empty_name(built):
    data = bytearray(built["libb"].read_bytes())
    [header] = MachO(str(built["libb"])).headers
    offset = 32 + sum(lc.cmdsize for lc, _, _ in header.commands[: next(
        i for i, (lc, _, _) in enumerate(header.commands) if lc.cmd == mach_o.LC_LOAD_DYLIB)])
    struct.pack_into("<I", data, offset + 8, 0x7000)  # the lc_str offset of LC_LOAD_DYLIB's name
    facts = facts_of(bytes(data))
    assert facts.slices[0].dylibs == () and "string offset 28672 outside the command" in facts.problems[0]
