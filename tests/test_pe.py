"""binaries/pe.py: PE facts from a member's stream, on DLLs linked by lld-link (see machobuild.py)."""

import struct

import pefile
import pytest

from machobuild import dll
from wheelmeta.binaries.pe import read_pe_facts


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pe")
    return {
        "amd64": dll(folder, "ext", imports={"helper.dll": ["helper"], "KERNEL32.dll": ["Sleep"]},
                     delay={"lazy.dll": ["lazy"]}),
        "i386": dll(folder, "ext32", machine="i386", imports={"helper.dll": ["helper"]}),
        "arm64": dll(folder, "tool", machine="arm64", imports={"helper.dll": ["helper"]}, exe=True),
    }


def facts_of(data: bytes, chunk: int = 512):
    return read_pe_facts(lambda: iter([data[i : i + chunk] for i in range(0, len(data), chunk)]), "pkg/x.pyd", len(data))


def test_imports_delay_imports_and_machine_of_a_64_bit_dll(built):
    facts = facts_of(built["amd64"].read_bytes())
    assert (facts.machine, facts.bits, facts.dll) == ("amd64", 64, True)
    assert set(facts.imports) == {"helper.dll", "KERNEL32.dll"} and facts.delay_imports == ("lazy.dll",)
    assert facts.problems == ()


def test_dll_lists_equal_pefile_walking_the_whole_file(built):
    for path in built.values():
        pe = pefile.PE(str(path))
        imports = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
        delay = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
        facts = facts_of(path.read_bytes())
        assert (list(facts.imports), list(facts.delay_imports)) == (imports, delay)


def test_32_bit_dll_and_arm64_executable(built):
    x86, arm = facts_of(built["i386"].read_bytes()), facts_of(built["arm64"].read_bytes())
    assert (x86.machine, x86.bits, x86.dll) == ("i386", 32, True)
    assert (arm.machine, arm.bits, arm.dll) == ("arm64", 64, False) and arm.imports == ("helper.dll",)


def test_truncated_headers_are_a_problem(built):
    data = built["amd64"].read_bytes()[:100]
    facts = facts_of(data)
    assert facts.imports == () and "not a readable PE file" in facts.problems[0]


def _import_directory_entry(data: bytes) -> int:
    """File offset of DATA_DIRECTORY[1] (the import directory's RVA and size)."""
    pe = pefile.PE(data=data, fast_load=True)
    return pe.OPTIONAL_HEADER.DATA_DIRECTORY[1].get_file_offset()


def test_import_table_out_of_range_is_a_problem_and_delay_imports_are_still_read(built):
    data = bytearray(built["amd64"].read_bytes())
    struct.pack_into("<I", data, _import_directory_entry(bytes(data)), 0x7FFFFF00)
    facts = facts_of(bytes(data))
    assert facts.imports == () and facts.delay_imports == ("lazy.dll",)
    assert any("import" in p.lower() for p in facts.problems)


def test_descriptor_naming_a_dll_outside_the_file_is_a_problem_not_a_silent_drop(built):
    data = bytearray(built["amd64"].read_bytes())
    pe = pefile.PE(data=bytes(data))
    descriptor = pe.DIRECTORY_ENTRY_IMPORT[0].struct.get_file_offset()
    struct.pack_into("<I", data, descriptor + 12, 0x7FFFFF00)  # its Name RVA
    facts = facts_of(bytes(data))
    assert len(facts.imports) == 1
    assert any("only 1 with a readable DLL name" in p for p in facts.problems)


def test_fuzz_round_of_mutated_dlls_gives_facts_or_problems_never_an_exception(built):
    from machobuild import mutations

    for mutant in mutations(built["amd64"].read_bytes(), seed=14, rounds=200, head=2048):
        facts = facts_of(mutant)
        assert facts.machine or facts.problems
