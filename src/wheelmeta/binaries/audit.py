"""The audit of a macOS or Windows wheel: its Mach-O or PE members read as streams, then judged.

``manylinux.audit.audit_source`` hands a wheel here when every platform tag of its filename is a macOS or a
Windows one; the members are chosen by name as for ELF, their first bytes tell the format, and each is inflated
once, only up to the bytes its reader needs (never unpacked, never whole in memory)::

    >>> audit = audit_binaries(LocalFileSource("x-1.0-cp311-cp311-macosx_11_0_arm64.whl"),          # doctest: +SKIP
    ...                        "x-1.0-cp311-cp311-macosx_11_0_arm64.whl", ("macosx_11_0_arm64",))
    >>> audit.format, audit.min_os, audit.claims_hold                                                 # doctest: +SKIP
    ('macho', '11.0', True)
"""

from __future__ import annotations

import concurrent.futures
from typing import Callable, List, Optional, Sequence, Union

from ..errors import WheelmetaError
from ..model import BinaryAudit, MachOFacts, PEFacts
from ..sources import ByteSource
from ..wheels.zipdir import ZipDirectory, ZipEntry, member_head
from . import macos, windows
from .macho import is_macho, read_macho_facts
from .pe import is_pe, read_pe_facts

__all__ = ["binary_format", "audit_binaries"]

Facts = Union[MachOFacts, PEFacts]


def binary_format(platforms: Sequence[str]) -> Optional[str]:
    """"macho" when every platform tag is a macOS one, "pe" when every one is a Windows one, else None."""
    if platforms and all(p.startswith("macosx_") for p in platforms):
        return "macho"
    if platforms and all(p == "win32" or p.startswith("win_") for p in platforms):
        return "pe"
    return None


def audit_binaries(
    source: ByteSource, wheel: str, claimed: Sequence[str], *, problems: Sequence[str] = (),
    progress: Optional[Callable[[int, int], None]] = None, workers: int = 1,
) -> BinaryAudit:
    """Read the Mach-O (macOS tags) or PE (Windows tags) members of the wheel in ``source`` and judge them.

    Raises :class:`~wheelmeta.errors.InvalidWheel` only when the zip itself cannot be read; a bad member is a
    problem of that member and the others are still read.
    """
    from ..manylinux.audit import elf_candidates  # the same choice by name: no byte of a .py file is inflated

    fmt = binary_format(claimed)
    if fmt is None:
        raise ValueError(f"{wheel}: not a macOS or Windows wheel: {', '.join(claimed)}")
    directory = ZipDirectory.read(source)
    entries = elf_candidates(directory)
    facts = _read_members(source, entries, fmt, progress, workers)
    judge = macos.judge if fmt == "macho" else windows.judge
    return judge(wheel, tuple(claimed), facts, list(problems))


def _read_members(
    source: ByteSource, entries: Sequence[ZipEntry], fmt: str, progress, workers: int
) -> List[Facts]:
    """The facts of every member of format ``fmt``, in wheel order; the largest members are read first."""
    order = sorted(entries, key=lambda e: -e.compressed_size)
    total, done, results = sum(e.compressed_size for e in entries), 0, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        read = pool.map if workers > 1 and len(order) > 1 else map
        for entry, facts in zip(order, read(lambda e: _member_facts(source, e, fmt), order)):
            done += entry.compressed_size
            if facts is not None:
                results[entry.name] = facts
            if progress is not None:
                progress(done, total)
    return [results[e.name] for e in entries if e.name in results]


def _member_facts(source: ByteSource, entry: ZipEntry, fmt: str) -> Optional[Facts]:
    """The member's facts, None when it is not a binary of ``fmt``; a read error becomes a problem."""
    from ..manylinux.audit import prefix_chunks

    try:
        head = _head(source, entry)
        if fmt == "macho":
            if not is_macho(head):
                return None
            stream = prefix_chunks(source, entry)
            try:
                return read_macho_facts(stream, entry.name, entry.file_size)
            finally:
                stream.close()  # stop inflating: the load commands are read
        if not is_pe(head):
            return None
        return read_pe_facts(lambda: prefix_chunks(source, entry), entry.name, entry.file_size)
    except WheelmetaError as exc:
        empty = MachOFacts if fmt == "macho" else PEFacts
        return empty(path=entry.name, problems=(exc.reason,))


def _head(source: ByteSource, entry: ZipEntry) -> bytes:
    """The member's first bytes (up to 8), inflating no more than a probe's worth."""
    return member_head(source, entry, 8)
