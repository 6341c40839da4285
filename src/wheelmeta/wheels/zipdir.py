"""The zip container of a wheel: the central directory kept as raw bytes, and bounded member streams.

Finding ``x.dist-info/METADATA`` in a 15,000-file wheel must not build 15,000 Python objects, so the central
directory is kept as one ``bytes`` object and searched with ``bytes.find`` (C speed); only the entries asked for
become :class:`ZipEntry` tuples. Reads go through :class:`wheelmeta.sources.ByteSource` only, so the same code
serves a local file (``os.pread``) and a remote wheel (HTTP range requests): one tail read usually yields the
end-of-central-directory record *and* the whole central directory of an ordinary wheel.

    >>> zd = ZipDirectory.read(LocalFileSource("requests-2.32.3-py3-none-any.whl"))   # doctest: +SKIP
    >>> entry = zd.find("requests-2.32.3.dist-info/METADATA")                        # doctest: +SKIP
    >>> text = read_member(zd.source, entry, limit=1 << 20)                           # doctest: +SKIP

Hostile input is refused with :class:`~wheelmeta.errors.InvalidWheel` naming the file: truncated archives, local
headers that contradict the central directory, entries that overlap (the "better zip bomb"), and members that
inflate beyond their declared size or the caller's limit (checked while inflating, so memory stays bounded).
"""

from __future__ import annotations

import bisect
import logging
import re
import struct
import zlib
from typing import Iterator, List, NamedTuple, Optional, Tuple

from packaging.utils import canonicalize_name

from ..errors import InvalidWheel
from ..sources import DEFAULT_CHUNK, ByteSource

try:  # isal inflates big members 1.4-1.8x faster than zlib (1.1 GB .so: 6.2 s vs 9.0 s); same API
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a declared dependency on CPython
    _inflate_lib = zlib  # type: ignore[assignment]
_INFLATE_ERRORS = (zlib.error, _inflate_lib.error)

__all__ = ["ZipEntry", "ZipDirectory", "iter_member", "member_head", "read_member", "compressed_range", "STORED",
           "DEFLATED"]

log = logging.getLogger(__name__)

STORED = 0
DEFLATED = 8

_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory record, 22 bytes
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes, right before the EOCD
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # central directory file header, 46 bytes
_CENTRAL_SIG = b"PK\x01\x02"
_CENTRAL_FIXED = struct.Struct("<HHHHHHIIIHHHHHII")  # the 42 bytes after the signature
_CENTRAL_FIXED_RE = re.compile(re.escape(_CENTRAL_SIG) + b"(.{42})", re.DOTALL)
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # local file header, 30 bytes
_LOCAL_SIG = b"PK\x03\x04"
_MAX_COMMENT = 0xFFFF
_ZIP64_EXTRA_ID = 0x0001
_FLAG_ENCRYPTED = 0x1
_FLAG_UTF8 = 0x800
# a local header's extra field is rarely longer than the central one by more than this; reading it in the same
# request as the header saves a round trip on remote sources
_LOCAL_EXTRA_SLACK = 64


class ZipEntry(NamedTuple):
    """One central directory entry (a NamedTuple: cheap to build, immutable)."""

    name: str
    compress_type: int
    compressed_size: int
    file_size: int
    header_offset: int  # absolute offset of the local file header in the source
    crc32: int
    flag_bits: int = 0
    raw_name: bytes = b""  # the name as stored, compared with the local header's copy


class ZipDirectory:
    """The end-of-central-directory facts and the raw central directory of one zip file.

    Build it with :meth:`read`; look members up with :meth:`find`, list them lazily with :meth:`entries`.
    """

    def __init__(self, source: ByteSource, central: bytes, entry_count: int, cd_offset: int, shift: int = 0) -> None:
        self.source = source
        self._shift = shift  # bytes prepended to the archive: added to every recorded offset
        self.central = central  # raw central directory bytes
        self.entry_count = entry_count
        self.cd_offset = cd_offset  # absolute offset where the central directory starts
        self._signatures_trusted: Optional[bool] = None
        self._offsets: Optional[List[int]] = None
        self._least_ends: List[int] = []
        self._members_read = 0
        self._dist_info_index: Optional[dict] = None

    # -- reading -----------------------------------------------------------------------------------------------

    @classmethod
    def read(cls, source: ByteSource) -> "ZipDirectory":
        """Read the EOCD (zip64 too) and the central directory of ``source`` in as few reads as possible."""
        if source.size < _EOCD.size:
            raise InvalidWheel(source.name, f"not a zip file (only {source.size} bytes)")
        tail_start = max(0, source.size - (_MAX_COMMENT + _EOCD.size))
        tail = source.read_at(tail_start, source.size - tail_start)
        eocd_pos = _find_eocd(tail)
        if eocd_pos is None:
            raise InvalidWheel(source.name, "not a zip file (no end-of-central-directory record; truncated?)")
        count, cd_size, cd_offset, cd_end = _eocd_values(source, tail, tail_start, eocd_pos)
        # bytes prepended to the archive (self-extracting stubs) shift every offset; zipfile tolerates it too
        shift = cd_end - (cd_offset + cd_size)
        if shift < 0:
            raise InvalidWheel(source.name, "truncated zip file: the central directory lies past the end of the file")
        start = cd_offset + shift
        central = _read_span(source, tail, tail_start, start, cd_size)
        if len(central) != cd_size:
            raise InvalidWheel(source.name, "truncated zip file: short central directory")
        if count and central[:4] != _CENTRAL_SIG:
            raise InvalidWheel(source.name, "corrupt zip file: no central directory at the recorded offset")
        return cls(source, central, count, start, shift)

    # -- lookup ------------------------------------------------------------------------------------------------

    def find(self, name: str) -> Optional[ZipEntry]:
        """The entry called ``name`` (exact, case-sensitive), or None; the last one if the name repeats."""
        for raw in _encodings(name):
            pos = self._find_header(raw)
            if pos is not None:
                return self._entry_at(pos)[0]
        return None

    def entries(self) -> Iterator[ZipEntry]:
        """Every entry in central directory order, built one at a time."""
        pos = 0
        for _ in range(self.entry_count):
            entry, pos = self._entry_at(pos)
            yield entry
        if pos != len(self.central):
            log.debug("%s: %d bytes after the last central directory entry", self.source.name, len(self.central) - pos)

    def names(self) -> Iterator[str]:
        """Every member name, in central directory order."""
        return (entry.name for entry in self.entries())

    def dist_info(self, project: Optional[str] = None) -> str:
        """The one top-level ``*.dist-info`` folder (no trailing slash).

        :raises InvalidWheel: when there is none, more than one, or its name does not match ``project``.
        """
        folders = sorted(self._dist_info_folders())
        if not folders:
            raise InvalidWheel(self.source.name, "no .dist-info folder in the wheel")
        if len(folders) > 1:
            raise InvalidWheel(self.source.name, "more than one .dist-info folder: " + ", ".join(folders))
        folder = folders[0]
        if project is not None and canonicalize_name(_project_part(folder)) != canonicalize_name(project):
            raise InvalidWheel(
                self.source.name, f"{folder} does not belong to project {project!r} named by the filename"
            )
        return folder

    def iter_member(self, entry: ZipEntry, *, limit: Optional[int] = None, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        """:func:`iter_member` with the overlap checks against this directory."""
        return iter_member(self.source, entry, limit=limit, chunk=chunk, directory=self)

    def read_member(self, entry: ZipEntry, *, limit: int) -> bytes:
        """:func:`read_member` with the overlap checks against this directory."""
        return read_member(self.source, entry, limit=limit, directory=self)

    # -- internals ---------------------------------------------------------------------------------------------

    def _find_header(self, raw: bytes) -> Optional[int]:
        """Offset in ``central`` of the (last) header whose name is exactly ``raw``."""
        if self._dist_info_index is not None:  # dist_info() already visited every x.dist-info/ member
            head, sep, _ = raw.partition(b"/")
            if sep and head.endswith(b".dist-info"):
                return self._dist_info_index.get(raw)
        if not self._trusted():
            found = None
            for pos, name in self._scan_names():
                if name == raw:
                    found = pos
            return found
        central, found = self.central, None
        hit = central.find(raw, _CENTRAL.size)
        while hit != -1:
            pos = hit - _CENTRAL.size
            # every signature in the directory is a real header (see _trusted), so a hit right after one whose
            # name length matches is that header's name, not a substring of another name or extra field
            if central[pos : pos + 4] == _CENTRAL_SIG and _name_length(central, pos) == len(raw):
                found = pos
            hit = central.find(raw, hit + 1)
        return found

    def _trusted(self) -> bool:
        """True when the header signature occurs exactly once per entry, so every occurrence is a header."""
        if self._signatures_trusted is None:
            self._signatures_trusted = self.central.count(_CENTRAL_SIG) == self.entry_count
        return self._signatures_trusted

    def _scan_names(self) -> Iterator[Tuple[int, bytes]]:
        """(offset, raw name) of every header, walking the directory: the slow path for odd archives."""
        central, pos = self.central, 0
        for _ in range(self.entry_count):
            name_len, extra_len, comment_len = self._header_lengths(pos)
            yield pos, central[pos + _CENTRAL.size : pos + _CENTRAL.size + name_len]
            pos += _CENTRAL.size + name_len + extra_len + comment_len

    def _dist_info_folders(self) -> set:
        """Names of the top-level ``*.dist-info`` folders, from the member names below them.

        On the fast path each ``.dist-info/`` hit in the raw directory is traced back to its header, and the
        members found are indexed so that :meth:`find` of ``x.dist-info/METADATA`` needs no further scan.
        """
        marker = b".dist-info/"
        folders = set()
        if not self._trusted():
            for _, raw in self._scan_names():
                head, sep, _rest = raw.partition(b"/")
                if sep and head.endswith(marker[:-1]) and head != marker[:-1]:
                    folders.add(_decode_name(head, 0))
            return folders
        index = {}  # raw member name -> header offset
        central, hit = self.central, self.central.find(marker)
        while hit != -1:
            pos = central.rfind(_CENTRAL_SIG, 0, hit)
            name_start = pos + _CENTRAL.size
            if pos >= 0 and name_start <= hit:
                name_end = name_start + _name_length(central, pos)
                prefix = central[name_start:hit]
                # the first ".dist-info/" of a name ends its first component when the prefix has no "/"
                if hit + len(marker) <= name_end and prefix and b"/" not in prefix:
                    folders.add(_decode_name(prefix + marker[:-1], _flags(central, pos)))
                    index[central[name_start:name_end]] = pos
            hit = central.find(marker, hit + 1)
        self._dist_info_index = index
        return folders

    def _header_lengths(self, pos: int) -> Tuple[int, int, int]:
        central = self.central
        if central[pos : pos + 4] != _CENTRAL_SIG or pos + _CENTRAL.size > len(central):
            raise InvalidWheel(self.source.name, f"corrupt central directory at offset {pos}")
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", central, pos + 28)
        if pos + _CENTRAL.size + name_len + extra_len + comment_len > len(central):
            raise InvalidWheel(self.source.name, f"corrupt central directory entry at offset {pos}")
        return name_len, extra_len, comment_len

    def _entry_at(self, pos: int) -> Tuple[ZipEntry, int]:
        """The entry whose central header starts at ``pos``, and the offset of the next header."""
        central = self.central
        name_len, extra_len, comment_len = self._header_lengths(pos)
        (_, _, _, flags, method, _, _, crc, csize, usize, _, _, _, _, _, _, offset) = _CENTRAL.unpack_from(central, pos)
        name_start = pos + _CENTRAL.size
        raw = central[name_start : name_start + name_len]
        if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF or offset == 0xFFFFFFFF:
            extra = central[name_start + name_len : name_start + name_len + extra_len]
            usize, csize, offset = self._zip64_values(extra, usize, csize, offset, raw)
        entry = ZipEntry(_decode_name(raw, flags), method, csize, usize, offset + self._shift, crc, flags, raw)
        return entry, name_start + name_len + extra_len + comment_len

    def _zip64_values(self, extra: bytes, usize: int, csize: int, offset: int, raw: bytes) -> Tuple[int, int, int]:
        """Replace the 0xFFFFFFFF fields with the zip64 extra field's 8-byte values (in the order the spec says)."""
        pos = 0
        while pos + 4 <= len(extra):
            kind, size = struct.unpack_from("<HH", extra, pos)
            if kind == _ZIP64_EXTRA_ID:
                values = extra[pos + 4 : pos + 4 + size]
                fields = [usize, csize, offset]
                cursor = 0
                for i, value in enumerate(fields):
                    if value == 0xFFFFFFFF:
                        if cursor + 8 > len(values):
                            break
                        (fields[i],) = struct.unpack_from("<Q", values, cursor)
                        cursor += 8
                else:
                    return fields[0], fields[1], fields[2]
                break
            pos += 4 + size
        name = raw.decode("utf-8", "replace")
        raise InvalidWheel(self.source.name, f"corrupt zip64 extra field for {name}")

    def check_bounds(self, entry: ZipEntry, data_end: int) -> None:
        """The checks before reading a member's data.

        The first member read from a directory is only checked against the central directory: whether another
        entry starts *inside* it is decided while streaming (:func:`iter_member` looks for local header
        signatures in the raw bytes), and an entry sharing its local header must share its name too (local
        names are compared), which inflates nothing more than reading this one member. From the second member
        on, reading many members could multiply such sharing, so every read is checked against the sorted
        offsets of all entries (built once, at C speed).
        """
        if data_end > self.cd_offset:
            raise InvalidWheel(self.source.name, f"{entry.name}: member data runs into the central directory")
        self._members_read += 1
        if self._offsets is not None or self._members_read > 1:
            self.check_extent(entry, data_end)

    def check_extent(self, entry: ZipEntry, data_end: int) -> None:
        """Refuse a member whose bytes run into another entry's or into the central directory (thorough: the
        sorted offsets of every entry, built once per directory)."""
        if data_end > self.cd_offset:
            raise InvalidWheel(self.source.name, f"{entry.name}: member data runs into the central directory")
        starts = self._sorted_offsets()
        offset, end = entry.header_offset - self._shift, data_end - self._shift  # recorded coordinates
        after = bisect.bisect_right(starts, offset)
        first = bisect.bisect_left(starts, offset)
        if after - first > 1:
            raise InvalidWheel(self.source.name, f"{entry.name}: overlapping entries in the zip file (shared header)")
        if after < len(starts) and starts[after] < end:
            raise InvalidWheel(self.source.name, f"{entry.name}: overlapping entries in the zip file")
        # the member stored before ours must end before our header starts (its local extra field can only
        # make it longer, so the central name length gives a lower bound)
        if first > 0 and self._least_ends[first - 1] > offset:
            raise InvalidWheel(self.source.name, f"{entry.name}: overlapping entries in the zip file")

    def _sorted_offsets(self) -> List[int]:
        """Every entry's recorded local header offset, sorted; built once with the least ends (below).

        For ordinary archives a regex pulls the fixed-size fields out of every header and ``struct.iter_unpack``
        decodes them: the Python-level work per entry is one tuple, once per directory.
        """
        if self._offsets is None:
            rows: Optional[List[Tuple[int, int, int]]] = None
            if self._trusted():
                fixed = _CENTRAL_FIXED_RE.findall(self.central)
                if len(fixed) == self.entry_count:
                    rows = [(r[15], r[9], r[7]) for r in _CENTRAL_FIXED.iter_unpack(b"".join(fixed))]
                    if any(0xFFFFFFFF in (offset, csize) for offset, _, csize in rows):
                        rows = None  # zip64 values live in the extra fields
            if rows is None:
                rows = [(e.header_offset - self._shift, len(e.raw_name), e.compressed_size) for e in self.entries()]
            rows.sort()
            self._offsets = [offset for offset, _, _ in rows]
            # a member ends at the earliest after its local header (central name length: the local extra field
            # can only add to it) and its compressed data
            self._least_ends = [offset + _LOCAL.size + name_len + csize for offset, name_len, csize in rows]
        return self._offsets


def _find_eocd(tail: bytes) -> Optional[int]:
    """Offset in ``tail`` of the EOCD record: the last signature whose comment length fits the tail."""
    pos = tail.rfind(_EOCD_SIG)
    while pos != -1:
        if pos + _EOCD.size <= len(tail):
            (comment_len,) = struct.unpack_from("<H", tail, pos + 20)
            if pos + _EOCD.size + comment_len <= len(tail):
                return pos
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    return None


def _eocd_values(source: ByteSource, tail: bytes, tail_start: int, eocd_pos: int) -> Tuple[int, int, int, int]:
    """(entry count, central directory size, recorded offset, where the directory really ends).

    With a zip64 locator the zip64 record wins; like zipfile, the record is expected right before its locator,
    so prepended bytes are detected the same way in both cases.
    """
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, eocd_pos)
    cd_end = tail_start + eocd_pos
    locator = b""
    if cd_end >= _ZIP64_LOCATOR.size + _ZIP64_EOCD.size:
        locator = _read_span(source, tail, tail_start, cd_end - _ZIP64_LOCATOR.size, _ZIP64_LOCATOR.size)
    if locator[:4] == _ZIP64_LOCATOR_SIG:
        _, z64_disk, _, disks = _ZIP64_LOCATOR.unpack(locator)
        cd_end -= _ZIP64_LOCATOR.size + _ZIP64_EOCD.size
        record = _read_span(source, tail, tail_start, cd_end, _ZIP64_EOCD.size)
        if record[:4] != _ZIP64_EOCD_SIG or z64_disk != 0 or disks > 1:
            raise InvalidWheel(source.name, "corrupt zip64 end-of-central-directory record")
        _, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset = _ZIP64_EOCD.unpack(record)
    if disk != 0 or cd_disk != 0:
        raise InvalidWheel(source.name, "multi-disk zip files are not supported")
    return count, cd_size, cd_offset, cd_end


def _read_span(source: ByteSource, tail: bytes, tail_start: int, offset: int, length: int) -> bytes:
    """Bytes [offset, offset+length) from the tail already read, or from the source when outside it."""
    if offset >= tail_start:
        return tail[offset - tail_start : offset - tail_start + length]
    return source.read_at(offset, length)


def _project_part(dist_info: str) -> str:
    """``"foo_bar-1.0.dist-info"`` -> ``"foo_bar"`` (the version never contains ``-`` in a valid wheel)."""
    stem = dist_info[: -len(".dist-info")]
    return stem.rsplit("-", 1)[0] if "-" in stem else stem


def _name_length(central: bytes, pos: int) -> int:
    return central[pos + 28] | (central[pos + 29] << 8)


def _flags(central: bytes, pos: int) -> int:
    return central[pos + 8] | (central[pos + 9] << 8)


def _decode_name(raw: bytes, flags: int) -> str:
    """Names are UTF-8 when flag bit 11 says so and cp437 otherwise, like zipfile; wheels are almost always ASCII."""
    if flags & _FLAG_UTF8:
        return raw.decode("utf-8", "surrogateescape")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _encodings(name: str) -> List[bytes]:
    """The byte strings ``name`` may be stored as (UTF-8 with the flag, cp437 without)."""
    forms = [name.encode("utf-8", "surrogateescape")]
    try:
        cp437 = name.encode("cp437")
    except UnicodeEncodeError:
        return forms
    if cp437 != forms[0]:
        forms.append(cp437)
    return forms


# -- member data -----------------------------------------------------------------------------------------------


def compressed_range(source: ByteSource, entry: ZipEntry) -> Tuple[int, int]:
    """(offset, length) of the member's compressed bytes, after checking its local header against ``entry``."""
    guess = _LOCAL.size + len(entry.raw_name) + _LOCAL_EXTRA_SLACK
    head = source.read_at(entry.header_offset, guess)
    if len(head) < _LOCAL.size or head[:4] != _LOCAL_SIG:
        raise InvalidWheel(source.name, f"{entry.name}: no local file header at offset {entry.header_offset}")
    (_, _, flags, method, _, _, _, _, _, name_len, extra_len) = _LOCAL.unpack_from(head)
    if len(head) >= _LOCAL.size + name_len:
        local_name = head[_LOCAL.size : _LOCAL.size + name_len]
    else:
        local_name = source.read_at(entry.header_offset + _LOCAL.size, name_len)
    if local_name != entry.raw_name or method != entry.compress_type:
        raise InvalidWheel(source.name, f"{entry.name}: local file header does not match the central directory")
    if flags & _FLAG_ENCRYPTED or entry.flag_bits & _FLAG_ENCRYPTED:
        raise InvalidWheel(source.name, f"{entry.name}: encrypted members are not supported")
    return entry.header_offset + _LOCAL.size + name_len + extra_len, entry.compressed_size


def iter_member(
    source: ByteSource, entry: ZipEntry, *, limit: Optional[int] = None, chunk: int = DEFAULT_CHUNK,
    directory: Optional[ZipDirectory] = None,
) -> Iterator[bytes]:
    """Yield the member's inflated bytes in chunks of at most ``chunk`` bytes; the consumer may stop early.

    Inflating is bounded step by step (``max_length``), so a member that declares a small size and inflates
    without end costs at most one chunk of memory before :class:`InvalidWheel` is raised. Pass ``directory``
    to also refuse members that overlap other entries or the central directory.

        >>> for block in iter_member(zd.source, zd.find("pkg/_lib.so"), limit=1 << 30):   # doctest: +SKIP
        ...     consume(block)
    """
    offset, length, cap = _member_range(source, entry, limit, directory)
    raw = source.stream(offset, length, chunk)
    if directory is not None:
        raw = _watch_for_headers(raw, lambda: directory.check_extent(entry, offset + length))
    blocks = raw if entry.compress_type == STORED else _inflate(raw, chunk, source.name, entry)
    total, crc = 0, 0
    for block in blocks:
        total += len(block)
        if total > cap:
            raise InvalidWheel(source.name, f"{entry.name}: inflates beyond its declared size ({cap} bytes)")
        crc = zlib.crc32(block, crc)
        yield block
    _check_complete(source, entry, total, crc)


#: compressed bytes read to inflate a member's first bytes: a deflate block's header and code tables fit in far less
_HEAD_INPUT = 4096


def member_head(source: ByteSource, entry: ZipEntry, n: int) -> bytes:
    """The member's first ``n`` inflated bytes (fewer for a shorter member), read as one small bounded read.

    A magic-number probe of every member of a remote wheel: :func:`iter_member` would stream the whole member and
    be stopped after a few bytes, and a streamed HTTP response stopped early costs its connection (the next request
    opens a new one: a TLS handshake and a name lookup each time). A bounded read is answered whole, and a
    :class:`~wheelmeta.http.RangeSource` reads it with its read-ahead, so the connection is reused.
    """
    offset, length, _ = _member_range(source, entry, None, None)
    if entry.compress_type == STORED:
        return source.read_at(offset, min(n, length))
    inflater = _inflate_lib.decompressobj(-15)
    try:
        head = inflater.decompress(source.read_at(offset, min(length, _HEAD_INPUT)), n)
    except _INFLATE_ERRORS as exc:
        raise InvalidWheel(source.name, f"{entry.name}: corrupt deflate data ({exc})") from None
    if len(head) >= n or inflater.eof or length <= _HEAD_INPUT:
        return head
    stream = iter_member(source, entry, chunk=n)  # a first block whose tables did not fit: rare, stream it
    try:
        return next(stream, b"")[:n]
    finally:
        stream.close()


def _member_range(
    source: ByteSource, entry: ZipEntry, limit: Optional[int], directory: Optional[ZipDirectory]
) -> Tuple[int, int, int]:
    """(offset, length) of the compressed bytes and the cap on inflated bytes, after every check that needs no
    member data."""
    if entry.compress_type not in (STORED, DEFLATED):
        raise InvalidWheel(source.name, f"{entry.name}: unsupported compression method {entry.compress_type}")
    if limit is not None and entry.file_size > limit:
        raise InvalidWheel(source.name, f"{entry.name}: declared size {entry.file_size} exceeds the limit {limit}")
    offset, length = compressed_range(source, entry)
    if directory is not None:
        directory.check_bounds(entry, offset + length)
    if offset + length > source.size:
        raise InvalidWheel(source.name, f"{entry.name}: truncated member data")
    return offset, length, entry.file_size if limit is None else min(entry.file_size, limit)


def _check_complete(source: ByteSource, entry: ZipEntry, total: int, crc: int) -> None:
    if total != entry.file_size:
        raise InvalidWheel(source.name, f"{entry.name}: truncated or corrupt member ({total} of {entry.file_size} bytes)")
    if crc != entry.crc32:
        raise InvalidWheel(source.name, f"{entry.name}: CRC-32 mismatch (corrupt member)")


def _watch_for_headers(raw: Iterator[bytes], check) -> Iterator[bytes]:
    """Pass the raw chunks through; at the first local header signature among them run ``check`` once.

    Another entry can only start inside this member where its local header signature is, so the thorough
    overlap check is needed only then (a "better zip bomb" quotes every header inside the previous member).
    """
    carry = b""
    for data in raw:
        if _LOCAL_SIG in data or (carry and _LOCAL_SIG in carry + data[:3]):
            check()
            yield data
            yield from raw
            return
        carry = data[-3:]
        yield data


def _inflate(raw: Iterator[bytes], chunk: int, where: str, entry: ZipEntry) -> Iterator[bytes]:
    """Raw deflate, at most ``chunk`` bytes of output per step whatever the input holds."""
    inflater = _inflate_lib.decompressobj(-15)
    try:
        for data in raw:
            while data and not inflater.eof:
                block = inflater.decompress(data, chunk)
                data = inflater.unconsumed_tail
                if block:
                    yield block
            if inflater.eof:
                break
        # input exhausted: drain what the inflater still holds, still bounded per step
        while not inflater.eof:
            block = inflater.decompress(b"", chunk)
            if not block:
                break
            yield block
    except _INFLATE_ERRORS as exc:
        raise InvalidWheel(where, f"{entry.name}: corrupt deflate data ({exc})") from None
    if not inflater.eof:
        raise InvalidWheel(where, f"{entry.name}: truncated deflate data")


def read_member(
    source: ByteSource, entry: ZipEntry, *, limit: int, directory: Optional[ZipDirectory] = None
) -> bytes:
    """The whole member, refused with :class:`InvalidWheel` if it would exceed ``limit`` bytes.

    Members up to one chunk (METADATA, WHEEL, RECORD) take one read and one bounded inflate call.
    """
    if max(entry.compressed_size, entry.file_size) > DEFAULT_CHUNK:
        return b"".join(iter_member(source, entry, limit=limit, directory=directory))
    offset, length, cap = _member_range(source, entry, limit, directory)
    raw = source.read_at(offset, length)
    if len(raw) != length:
        raise InvalidWheel(source.name, f"{entry.name}: truncated member data")
    if directory is not None and _LOCAL_SIG in raw:
        directory.check_extent(entry, offset + length)
    data = raw
    if entry.compress_type == DEFLATED:
        # zlib, not isal: for one small member isal's setup cost eats its speed (bench_metadata: 0.88x)
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, cap + 1)  # one byte more than allowed tells a bomb apart
        except _INFLATE_ERRORS as exc:
            raise InvalidWheel(source.name, f"{entry.name}: corrupt deflate data ({exc})") from None
        if len(data) <= cap and not inflater.eof:
            raise InvalidWheel(source.name, f"{entry.name}: truncated deflate data")
    if len(data) > cap:
        raise InvalidWheel(source.name, f"{entry.name}: inflates beyond its declared size ({cap} bytes)")
    _check_complete(source, entry, len(data), zlib.crc32(data))
    return data
