"""Bytes of one streamed member at the offsets a binary reader asks for, without ever holding the whole member;
and the two helpers both verdicts share: where a member installs, and libraries grouped by class.

Mach-O load commands sit at the start of each slice and a PE file's import tables sit in one or two sections, so
a reader needs a few ranges at increasing offsets: :class:`ForwardReader` inflates the member once, front to back,
keeps those ranges and drops the bytes between them. :class:`SparseFile` hands the kept ranges to a library that
wants a file object (macholib); outside them it reads as the end of the file.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

from ..model import BinaryAudit, LinkedLibrary

__all__ = ["ForwardReader", "SparseFile", "BackwardRead", "installed_path", "group_by_class", "assemble"]


class BackwardRead(ValueError):
    """A range was asked for below a range already passed (overlapping slices or sections)."""


class ForwardReader:
    """Ranges of a member's bytes read from its chunk stream at non-decreasing offsets.

        >>> r = ForwardReader(iter([b"abc", b"defgh"]), 8)
        >>> r.read(1, 3), r.read(6, 9)
        (b'bcd', b'gh')
    """

    def __init__(self, chunks: Iterator[bytes], size: int) -> None:
        self._chunks = chunks
        self.size = size  # the member's declared size
        self._buf = b""
        self._start = 0  # member offset of self._buf[0]

    @property
    def position(self) -> int:
        """The lowest offset that can still be read."""
        return self._start

    def read(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset+length), fewer where the member ends first."""
        if offset < self._start:
            raise BackwardRead(f"offset {offset} lies before {self._start}, already passed")
        out: List[bytes] = []
        want = max(0, min(length, self.size - offset))
        while want:
            end = self._start + len(self._buf)
            if offset < end:
                piece = self._buf[offset - self._start : offset - self._start + want]
                out.append(piece)
                offset += len(piece)
                want -= len(piece)
                if not want:
                    break
            block = next(self._chunks, None)
            if block is None:
                self._buf, self._start = b"", offset
                break
            self._start, self._buf = end, block
        if self._start < offset <= self._start + len(self._buf):  # keep only what lies past the range
            self._buf, self._start = self._buf[offset - self._start :], offset
        return b"".join(out)


class SparseFile:
    """A read-only file object of ``size`` bytes of which only ``pieces`` (offset -> bytes) are known.

    A read that starts inside a piece returns bytes of that piece only; anywhere else it returns ``b""``, as at
    the end of a file, so a library that wanders outside the kept ranges fails or skips instead of seeing
    invented bytes.
    """

    def __init__(self, size: int, pieces: Dict[int, bytes]) -> None:
        self.size = size
        self._offsets = sorted(pieces)
        self._pieces = pieces
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def read(self, n: Optional[int] = -1) -> bytes:
        if n is not None and n < 0:
            n = self.size - self._pos
        i = bisect.bisect_right(self._offsets, self._pos) - 1
        if i < 0 or n is None:
            return b""
        start = self._offsets[i]
        piece = self._pieces[start]
        data = piece[self._pos - start : self._pos - start + n]
        self._pos += len(data)
        return data


def installed_path(member: str) -> str:
    """Where a member lands in site-packages: ``x-1.0.data/platlib/a.dll`` -> ``a.dll`` (the wheel spec's
    ``.data`` scheme folders ``platlib``/``purelib`` install at the root); other members stay as they are.

        >>> installed_path("ujson-6.1.0.data/platlib/msvcp140.dll"), installed_path("pkg/_x.so")
        ('msvcp140.dll', 'pkg/_x.so')
    """
    head, _, rest = member.partition("/")
    if head.endswith(".data") and rest.startswith(("platlib/", "purelib/")):
        return rest.split("/", 1)[1]
    return member


def group_by_class(libraries: Mapping[str, Sequence[LinkedLibrary]]):
    """(name -> member carrying it, class -> name -> sorted members needing it) over every member's libraries;
    both sorted by name, the first carrier of a name kept."""
    carried: Dict[str, str] = {}
    by_class: Dict[str, Dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for path, libs in libraries.items():
        for lib in libs:
            if lib.cls == "carried":
                carried.setdefault(lib.name, lib.member or "")
            else:
                by_class[lib.cls][lib.name].add(path)
    grouped = defaultdict(dict, {cls: {n: tuple(sorted(m)) for n, m in sorted(names.items())}
                                 for cls, names in by_class.items()})
    return dict(sorted(carried.items())), grouped


def assemble(wheel: str, fmt: str, claimed, facts, libraries, problems, **verdict) -> BinaryAudit:
    """The BinaryAudit of a wheel: its binaries, their libraries grouped by class, the problems, and ``verdict``
    (the format's own fields: archs, min_os, overall_tag, claims_hold, runtime_libs)."""
    carried, by_class = group_by_class(libraries)
    return BinaryAudit(
        wheel=wheel, format=fmt, claimed_tags=tuple(claimed), binaries=tuple(facts), libraries=libraries,
        carried_libs=carried, system_libs=tuple(sorted(by_class["system"], key=str.lower)),
        external_libs=by_class["external"], missing_libs=by_class["missing"], problems=tuple(problems), **verdict,
    )
