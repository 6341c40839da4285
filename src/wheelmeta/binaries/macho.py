"""Mach-O facts of one streamed wheel member: per slice its architecture, dylibs, rpaths, install name, minimum OS.

macholib parses; this module only decides which bytes it sees. Load commands sit right after each slice's
header, so only the fat header (if any) and, per slice, its header and ``sizeofcmds`` bytes are kept; the member
is inflated once, front to back, and stops after the last slice's load commands::

    >>> facts = read_macho_facts(iter([data]), "pkg/_ext.cpython-311-darwin.so", len(data))   # doctest: +SKIP
    >>> [(s.arch, s.min_os, s.dylibs) for s in facts.slices]                                     # doctest: +SKIP
    [('arm64', '11.0', (('/usr/lib/libSystem.B.dylib', 'load'),))]

What cannot be read (a truncated member, an absurd load-command count, a slice macholib refuses) becomes a
``problems`` entry naming the slice; the other slices are still read.
"""

from __future__ import annotations

import struct
from typing import Dict, Iterator, List, Optional, Tuple

from macholib import mach_o
from macholib.MachO import MachO
from macholib.ptypes import sizeof

from ..model import MachOFacts, MachOSlice
from .members import BackwardRead, ForwardReader, SparseFile

__all__ = ["MACHO_MAGICS", "is_macho", "read_macho_facts"]

_THIN = {
    mach_o.MH_MAGIC: (mach_o.mach_header, ">"),
    mach_o.MH_CIGAM: (mach_o.mach_header, "<"),
    mach_o.MH_MAGIC_64: (mach_o.mach_header_64, ">"),
    mach_o.MH_CIGAM_64: (mach_o.mach_header_64, "<"),
}
_FAT = {mach_o.FAT_MAGIC: mach_o.fat_arch, mach_o.FAT_MAGIC_64: mach_o.fat_arch64}
#: the first four bytes (big-endian) of a Mach-O file, thin or fat
MACHO_MAGICS = frozenset(_THIN) | frozenset(_FAT)
# A fat header and a Java class file share 0xCAFEBABE; a class file's next word is its version (>= 45), while
# no fat file has more slices than there are architectures. Load commands beyond these bounds are refused.
_MAX_SLICES = 32
_MAX_COMMAND_BYTES = 8 << 20
_DYLIB_COMMANDS = {
    mach_o.LC_LOAD_DYLIB: "load",
    mach_o.LC_LOAD_WEAK_DYLIB: "weak",
    mach_o.LC_REEXPORT_DYLIB: "reexport",
    mach_o.LC_LOAD_UPWARD_DYLIB: "upward",
    mach_o.LC_LAZY_LOAD_DYLIB: "lazy",
}
_VERSION_MIN = {
    mach_o.LC_VERSION_MIN_MACOSX: "macOS",
    mach_o.LC_VERSION_MIN_IPHONEOS: "iOS",
    mach_o.LC_VERSION_MIN_TVOS: "tvOS",
    mach_o.LC_VERSION_MIN_WATCHOS: "watchOS",
}
# macholib's CPU names -> the names wheel tags and lipo use
_ARCH_NAMES = {"ARM64": "arm64", "ARM": "arm", "PowerPC": "ppc", "PowerPC64": "ppc64", "i386": "i386", "x86_64": "x86_64"}
_CPU_SUBTYPE_ARM64E = 2
_CPU_SUBTYPE_X86_64_H = 8


def is_macho(head: bytes) -> bool:
    """Whether the first bytes of a member are a Mach-O header (thin or fat, not a Java class file)."""
    if len(head) < 8:
        return False
    magic, second = struct.unpack(">II", head[:8])
    return magic in _THIN or (magic in _FAT and 0 < second <= _MAX_SLICES)


class _StreamedMachO(MachO):
    """macholib's MachO without a path: slices are loaded from a file object with ``load_header``."""

    def __init__(self, name: str) -> None:  # noqa: D107 - MachO.__init__ opens a path and reads it whole
        self.graphident = self.filename = name
        self.loader_path = name.rpartition("/")[0]
        self.fat = None
        self.headers = []
        self.allow_unknown_load_commands = True  # a command newer than macholib is skipped, not fatal


def read_macho_facts(chunks: Iterator[bytes], path: str, size: int) -> MachOFacts:
    """The Mach-O facts of the member whose inflated bytes ``chunks`` yields (``size``: its declared size)."""
    reader = ForwardReader(chunks, size)
    head = reader.read(0, 8)
    problems: List[str] = []
    if len(head) < 8:
        return MachOFacts(path=path, problems=("truncated Mach-O header",))
    (magic,) = struct.unpack(">I", head[:4])
    if magic in _FAT:
        return _read_fat(reader, head, path, size, problems)
    piece, problem = _keep_commands(reader, 0, size, head)
    if problem:
        return MachOFacts(path=path, problems=(problem,))
    slices = _load_slice(_StreamedMachO(path), SparseFile(size, {0: piece}), 0, size, "", problems)
    return MachOFacts(path=path, slices=slices, problems=tuple(problems))


def _read_fat(reader: ForwardReader, head: bytes, path: str, size: int, problems: List[str]) -> MachOFacts:
    fat = mach_o.fat_header.from_str(head)
    if fat.nfat_arch > _MAX_SLICES:
        return MachOFacts(path=path, fat=True, problems=(f"fat header claims {fat.nfat_arch} slices",))
    arch_cls = _FAT[fat.magic]
    table = head + reader.read(8, fat.nfat_arch * sizeof(arch_cls))
    if len(table) < 8 + fat.nfat_arch * sizeof(arch_cls):
        return MachOFacts(path=path, fat=True, problems=("truncated fat header",))
    archs = [arch_cls.from_str(table[8 + i * sizeof(arch_cls) : 8 + (i + 1) * sizeof(arch_cls)])
             for i in range(fat.nfat_arch)]
    pieces: Dict[int, bytes] = {0: table}
    loadable = []
    for arch in sorted(archs, key=lambda a: a.offset):
        where = f"slice at offset {arch.offset}: "
        if arch.offset < len(table) or arch.offset + arch.size > size:
            problems.append(f"{where}lies outside the file ({arch.size} bytes of {size})")
            continue
        try:
            piece, problem = _keep_commands(reader, arch.offset, arch.size)
        except BackwardRead:
            problems.append(f"{where}overlaps the slice before it")
            continue
        if problem:
            problems.append(where + problem)
            continue
        pieces[arch.offset] = piece
        loadable.append(arch)
    macho, fileobj = _StreamedMachO(path), SparseFile(size, pieces)
    slices: List[MachOSlice] = []
    for arch in loadable:
        slices.extend(_load_slice(macho, fileobj, arch.offset, arch.size, f"slice at offset {arch.offset}: ", problems))
    return MachOFacts(path=path, fat=True, slices=tuple(slices), problems=tuple(problems))


def _keep_commands(reader: ForwardReader, offset: int, size: int, head: bytes = b"") -> Tuple[bytes, Optional[str]]:
    """(the slice's header and load commands, None) or (b"", why they cannot be read)."""
    header = head + reader.read(offset + len(head), min(size, 32) - len(head))
    if len(header) < 28:
        return b"", "truncated Mach-O header"
    (magic,) = struct.unpack(">I", header[:4])
    if magic not in _THIN:
        return b"", f"not a Mach-O header (magic 0x{magic:08x})"
    cls, endian = _THIN[magic]
    if len(header) < sizeof(cls):  # a 64-bit magic in a 28-byte (32-bit sized) slice
        return b"", "truncated Mach-O header"
    fields = cls.from_str(header[: sizeof(cls)], _endian_=endian)
    end = sizeof(cls) + fields.sizeofcmds
    if fields.ncmds * sizeof(mach_o.load_command) > fields.sizeofcmds:
        return b"", f"absurd load command count: {fields.ncmds} commands in {fields.sizeofcmds} bytes"
    if fields.sizeofcmds > _MAX_COMMAND_BYTES:
        return b"", f"load commands of {fields.sizeofcmds} bytes exceed the reader's limit of {_MAX_COMMAND_BYTES}"
    if end > size:
        return b"", f"load commands ({fields.sizeofcmds} bytes) run past the end of the slice ({size} bytes)"
    rest = reader.read(offset + len(header), end - len(header))
    if len(header) + len(rest) < end:
        return b"", "truncated load commands"
    return header + rest, None


def _load_slice(
    macho: _StreamedMachO, fileobj: SparseFile, offset: int, size: int, where: str, problems: List[str]
) -> Tuple[MachOSlice, ...]:
    """Let macholib parse the slice at ``offset``; its facts, or a problem."""
    count = len(macho.headers)
    try:
        macho.load_header(fileobj, offset, size)
    except Exception as exc:  # noqa: BLE001 - macholib signals malformed input with assorted exception types
        problems.append(f"{where}unreadable load commands ({type(exc).__name__}: {exc})")
        return ()
    header = macho.headers[count]
    return (_slice_facts(header, where, problems),)


def _slice_facts(header, where: str, problems: List[str]) -> MachOSlice:
    """The facts of one slice parsed by macholib (a ``MachOHeader``)."""
    h = header.header
    dylibs, rpaths = [], []
    install_name = platform = min_os = sdk = None
    for lc, cmd, data in header.commands:
        if lc.cmd in _DYLIB_COMMANDS:
            name = _lc_string(lc, cmd, data, cmd.name, where, problems)
            if name:  # an unreadable name is already a problem; "" would only be classified as a library
                dylibs.append((name, _DYLIB_COMMANDS[lc.cmd]))
        elif lc.cmd == mach_o.LC_ID_DYLIB:
            install_name = _lc_string(lc, cmd, data, cmd.name, where, problems)
        elif lc.cmd == mach_o.LC_RPATH:
            rpath = _lc_string(lc, cmd, data, cmd.path, where, problems)
            if rpath:
                rpaths.append(rpath)
        elif lc.cmd == mach_o.LC_BUILD_VERSION:
            platform = mach_o.PLATFORM_NAMES.get(cmd.platform, f"platform {cmd.platform}")
            min_os, sdk = _version(cmd.minos), _version(cmd.sdk)
        elif lc.cmd in _VERSION_MIN and min_os is None:
            platform, min_os, sdk = _VERSION_MIN[lc.cmd], _version(cmd.version), _version(cmd.sdk)
    return MachOSlice(
        arch=_arch(h.cputype, h.cpusubtype),
        bits=64 if header.mach_header is mach_o.mach_header_64 else 32,
        filetype=header.filetype,
        install_name=install_name,
        dylibs=tuple(dylibs),
        rpaths=tuple(rpaths),
        platform=platform,
        min_os=min_os,
        sdk=sdk,
    )


def _lc_string(lc, cmd, data: bytes, offset: int, where: str, problems: List[str]) -> str:
    """The NUL-terminated string an ``lc_str`` field points at inside its load command."""
    start = int(offset) - sizeof(lc) - sizeof(cmd)
    if not 0 <= start < len(data):
        problems.append(f"{where}{mach_o.LC_NAMES.get(lc.cmd, lc.cmd)}: string offset {int(offset)} outside the command")
        return ""
    raw = data[start:].split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{where}{mach_o.LC_NAMES.get(lc.cmd, lc.cmd)}: name is not UTF-8")
        return raw.decode("utf-8", "replace")


def _version(value: int) -> str:
    """``xxxx.yy.zz`` nibble-packed version -> "11.0" or "10.13.4"."""
    value = int(value)
    major, minor, patch = value >> 16, (value >> 8) & 0xFF, value & 0xFF
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def _arch(cputype: int, cpusubtype: int) -> str:
    name = mach_o.CPU_TYPE_NAMES.get(int(cputype))
    arch = _ARCH_NAMES.get(name, f"cputype {int(cputype)}") if name else f"cputype {int(cputype)}"
    subtype = int(cpusubtype) & 0xFF
    if arch == "arm64" and subtype == _CPU_SUBTYPE_ARM64E:
        return "arm64e"
    if arch == "x86_64" and subtype == _CPU_SUBTYPE_X86_64_H:
        return "x86_64h"
    return arch
