"""Agreement check: wheelmeta's streamed Mach-O/PE reading against macholib and pefile reading unpacked files.

For every macOS and Windows wheel in the folders given, the wheel is unzipped into a temporary folder and every
member is read the way the libraries are used on their own: ``macholib.MachO.MachO(path)`` and each header's
``walkRelocatables()`` (what delocate's listing rests on), ``pefile.PE(path)`` with every directory parsed (what
delvewheel's ``needed`` rests on). Per member the loaded install names of every slice (Mach-O) and the imported
and delay-loaded DLL names (PE) must equal what ``wheelmeta scan`` reports, and so must the set of members read as
binaries. Where pefile's full walk gives up early (it stops at 8192 imported symbols: torch_python.dll), the DLL
lists are also read with ``llvm-readobj --coff-imports`` when installed, and a listing that equals that third
reading counts as agreeing and is reported as such. Prints one line per disagreement and a summary; exits 1 when
any was found.

Fill a cache first (anything outside the repository), e.g.::

    pip download --no-deps --only-binary :all: --platform macosx_11_0_arm64 --python-version 3.11 -d CACHE/mac numpy
    pip download --no-deps --only-binary :all: --platform win_amd64 --python-version 3.11 -d CACHE/win numpy

    PYTHONPATH=src python benchmarks/check_macho_pe.py CACHE/mac CACHE/win
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import pefile
from macholib.MachO import MachO

from wheelmeta.manylinux.audit import audit_source
from wheelmeta.model import MachOFacts

MACHO_MAGICS = {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe",
                b"\xca\xfe\xba\xbf"}


def reference_macho(path: str):
    """Per slice the install names macholib walks, in file order (LC_LOAD/WEAK/REEXPORT/UPWARD/PREBOUND)."""
    return [[name for _, _, name in header.walkRelocatables()] for header in MachO(path).headers]


def reference_pe(path: str):
    pe = pefile.PE(path)
    try:
        imports = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
        delay = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
        return imports, delay
    finally:
        pe.close()


def readobj():
    return shutil.which("llvm-readobj") or next(iter(sorted(glob.glob("/usr/lib/llvm-*/bin/llvm-readobj"))), None)


def readobj_pe(path: str):
    """(imports, delay imports) as llvm-readobj lists them, or None without llvm-readobj."""
    tool = readobj()
    if tool is None:
        return None
    out = subprocess.run([tool, "--coff-imports", path], capture_output=True, text=True).stdout
    imports, delay, block = [], [], None
    for line in out.splitlines():
        text = line.strip()
        if text in ("Import {", "DelayImport {"):
            block = imports if text == "Import {" else delay
        elif text.startswith("Name: ") and block is not None:
            block.append(text[len("Name: "):])
            block = None
    return imports, delay


def references(folder: str, fmt: str):
    """member -> the library's reading, for every unpacked file the library accepts."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            member = os.path.relpath(path, folder).replace(os.sep, "/")
            if member.split("/")[0].endswith(".dist-info") or member.endswith(".a"):
                continue  # metadata, and static archives (never loaded; wheelmeta skips them by name)
            with open(path, "rb") as f:
                head = f.read(8)
            if fmt == "macho" and head[:4] in MACHO_MAGICS:
                if head[:4] == b"\xca\xfe\xba\xbe" and int.from_bytes(head[4:8], "big") > 32:
                    continue  # a Java class file
                try:
                    out[member] = reference_macho(path)
                except Exception as exc:  # noqa: BLE001 - the reference's own failures are reported, not raised
                    out[member] = f"macholib failed: {exc}"
            elif fmt == "pe" and head[:2] == b"MZ":
                try:
                    out[member] = reference_pe(path)
                except pefile.PEFormatError as exc:
                    out[member] = f"pefile failed: {exc}"
    return out


def ours(facts):
    if isinstance(facts, MachOFacts):
        return [[name for name, command in s.dylibs if command != "lazy"] for s in facts.slices]
    return list(facts.imports), list(facts.delay_imports)


def check_wheel(path: str, stats: dict) -> list:
    audit = audit_source(path)
    fmt = getattr(audit, "format", None)
    if fmt not in ("macho", "pe"):
        return [f"{path}: not read as a macOS/Windows wheel (kind {audit.kind})"]
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(tmp)
        expected = references(tmp, fmt)
        return compare(path, fmt, expected, {f.path: ours(f) for f in audit.binaries}, tmp, stats)


def compare(path: str, fmt: str, expected: dict, got: dict, tmp: str, stats: dict) -> list:
    """Disagreements between the references and wheelmeta's listings, one line each (``tmp``: the unpacked wheel)."""
    out = []
    for member in sorted(set(expected) | set(got)):
        if member.endswith(tuple(".py .pyi .txt .h".split())):
            continue
        want, have = expected.get(member), got.get(member)
        if want != have and fmt == "pe" and have is not None and readobj_pe(os.path.join(tmp, member)) == tuple(have):
            stats["readobj"].append(f"{os.path.basename(path)}: {member}")
            want = have
        if want != have:
            out.append(f"{path}: {member}: reference {want!r} != wheelmeta {have!r}")
        else:
            stats["binaries"] += 1
            stats["names"] += sum(len(x) for x in want)
    stats[fmt] += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="folders (or wheels) of macOS and Windows wheels")
    args = parser.parse_args()
    wheels = []
    for item in args.folders:
        wheels += sorted(glob.glob(os.path.join(item, "*.whl"))) if os.path.isdir(item) else [item]
    stats = {"macho": 0, "pe": 0, "binaries": 0, "names": 0, "readobj": []}
    problems, start = [], time.perf_counter()
    for wheel in wheels:
        problems += check_wheel(wheel, stats)
    for line in problems:
        print(line)
    for line in stats["readobj"]:
        print(f"pefile's full walk stopped early; llvm-readobj lists what wheelmeta lists: {line}")
    print(f"{stats['macho']} macOS wheels, {stats['pe']} Windows wheels, {stats['binaries']} binaries agree "
          f"({stats['names']} library names); {len(problems)} disagreements; {time.perf_counter() - start:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
