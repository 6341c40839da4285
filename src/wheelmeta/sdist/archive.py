"""The sdist container: ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``, plain ``.tar`` and ``.zip``, read member by
member with guards, never unpacked for a static read.

Every member is checked as it streams past, whether or not its bytes are wanted: absolute and ``..`` paths, links
whose target leaves the tree, device files and fifos, the member count, the total inflated size and the
compression ratio. A refusal is an :class:`~wheelmeta.errors.InvalidSdist` naming the file and the problem::

    >>> archive = open_sdist("requests-2.22.0.tar.gz")                           # doctest: +SKIP
    >>> files = archive.read_files(lambda name: name in {"PKG-INFO", "setup.py"})  # doctest: +SKIP
    >>> files.root, sorted(files.data)                                           # doctest: +SKIP
    ('requests-2.22.0', ['PKG-INFO', 'setup.py'])

:func:`extract_tree` writes the tree (for the setup.py sandbox) below a fresh temporary directory only.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple, Union

from ..errors import InvalidSdist

__all__ = [
    "SDIST_SUFFIXES",
    "ArchiveLimits",
    "SdistMember",
    "SdistFiles",
    "SdistArchive",
    "open_sdist",
    "extract_tree",
]

SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip")

_CHUNK = 1 << 16


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that bound the work and memory any sdist can cost (defaults are far above real sdists)."""

    max_members: int = 100_000
    max_total_size: int = 2 << 30  # inflated bytes over all members
    max_ratio: float = 200.0  # inflated / compressed, judged once ``ratio_floor`` bytes have been inflated
    ratio_floor: int = 32 << 20
    max_read_size: int = 16 << 20  # one member read into memory (PKG-INFO, pyproject.toml, setup.py ...)
    max_depth: int = 256  # folders in one member path (unpacking creates each; real sdists stay below 20)


@dataclass(frozen=True)
class SdistMember:
    """One archive member after the guards: ``name`` as stored, ``kind`` one of file, dir, symlink, hardlink."""

    name: str
    kind: str
    size: int = 0
    linkname: str = ""  # symlink target (relative to the member's folder) or hard-link target (archive path)
    mode: int = 0o644


@dataclass
class SdistFiles:
    """What one pass over an sdist found: the top folder, every member path below it, the wanted files' bytes."""

    root: str  # "requests-2.22.0", or "" when members sit at the top level
    names: List[str] = field(default_factory=list)  # member paths relative to root (files and links)
    data: Dict[str, bytes] = field(default_factory=dict)  # relative path -> bytes, for wanted members


def _checked_name(archive: str, name: str, max_depth: int = ArchiveLimits.max_depth) -> str:
    """The member path with ``./`` and trailing slashes removed; traversal, absolute paths, NUL bytes (no file
    system takes them) and paths deeper than ``max_depth`` folders refused."""
    raw = name.replace("\\", "/")
    if "\0" in raw:
        raise InvalidSdist(archive, f"member {name[:200]!r} has a NUL byte in its path")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidSdist(archive, f"member {name!r} has an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidSdist(archive, f"member {name[:200]!r} climbs out of the archive with '..'")
    if len(parts) > max_depth:
        raise InvalidSdist(archive, f"member {name[:100]!r}... is {len(parts)} folders deep (more than {max_depth})")
    if not parts:
        return ""
    return "/".join(parts)


def _check_link(archive: str, member: str, target: str, *, hard: bool) -> None:
    """Refuse a link whose target is absolute or resolves (lexically) outside the archive's tree."""
    if not target:
        raise InvalidSdist(archive, f"link {member!r} has an empty target")
    t = target.replace("\\", "/")
    if t.startswith("/"):
        raise InvalidSdist(archive, f"link {member!r} points to the absolute path {target!r}")
    base = "" if hard else posixpath.dirname(member)
    resolved = posixpath.normpath(posixpath.join(base, t))
    if resolved == ".." or resolved.startswith("../"):
        raise InvalidSdist(archive, f"link {member!r} points outside the archive to {target!r}")


class _BoundedStream:
    """A decompressed stream that refuses to inflate past the caps (total size, and ratio against the file)."""

    def __init__(self, archive: str, raw: BinaryIO, compressed_size: int, limits: ArchiveLimits) -> None:
        self.archive = archive
        self._raw = raw
        self._compressed = max(compressed_size, 1)
        self._limits = limits
        self.inflated = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n if n is not None and n >= 0 else _CHUNK)
        self.inflated += len(data)
        _check_inflated(self.archive, self.inflated, self._compressed, self._limits)
        return data


def _check_inflated(archive: str, inflated: int, compressed: int, limits: ArchiveLimits) -> None:
    if inflated > limits.max_total_size:
        raise InvalidSdist(archive, f"inflates to more than {limits.max_total_size} bytes (decompression bomb?)")
    if inflated > limits.ratio_floor and inflated > limits.max_ratio * compressed:
        raise InvalidSdist(
            archive,
            f"compression ratio above {limits.max_ratio:g} ({inflated} bytes from {compressed}; decompression bomb?)",
        )


def _sniff(path: str) -> str:
    """The container kind from the magic bytes: gz, bz2, xz, zip or tar (suffixes lie, magic does not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(262)
    except OSError as exc:
        raise InvalidSdist(path, exc.strerror or str(exc)) from None
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    raise InvalidSdist(path, "not a tar.gz, tar.bz2, tar.xz, tar or zip file")


def _decompressor(kind: str, raw: BinaryIO) -> BinaryIO:
    if kind == "gz":
        try:  # isal inflates several times faster than zlib when it is installed
            from isal import igzip

            return igzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        except ImportError:  # pragma: no cover - isal is an optional speed-up
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    return raw


try:  # the inflate errors of isal's gzip reader are not zlib.error
    from isal.isal_zlib import error as _isal_error
except ImportError:  # pragma: no cover - isal is an optional speed-up
    _isal_error = zlib.error

# Errors the decompressors and tarfile/zipfile raise on damaged input: all mean "corrupt", never a traceback.
# zipfile raises RuntimeError for encrypted members and NotImplementedError (a RuntimeError) for unknown methods.
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, zlib.error, _isal_error, lzma.LZMAError, EOFError, OSError,
            ValueError, RuntimeError)


class SdistArchive:
    """An sdist opened for streaming reads. Each pass re-reads the file; nothing is cached or unpacked."""

    def __init__(self, path: Union[str, os.PathLike], limits: Optional[ArchiveLimits] = None) -> None:
        self.path = os.fspath(path)
        self.limits = limits or ArchiveLimits()
        self.kind = _sniff(self.path)

    def members(self) -> Iterator[Tuple[SdistMember, Optional[Callable[[], BinaryIO]]]]:
        """Every member after the guards, with an ``open()`` for regular files (valid until the next member)."""
        try:
            if self.kind == "zip":
                yield from self._zip_members()
            else:
                yield from self._tar_members()
        except InvalidSdist:
            raise
        except _CORRUPT as exc:
            raise InvalidSdist(self.path, f"corrupt or truncated archive: {exc}") from None

    def read_files(self, wanted: Callable[[str], bool]) -> SdistFiles:
        """One pass: all member names, and the bytes of the files whose path below the top folder is ``wanted``.

        Links are listed but never followed, so a wanted name that is a link yields no bytes.
        """
        names: List[str] = []
        data: Dict[str, bytes] = {}
        for member, read in self.members():
            if member.kind == "dir":
                continue
            names.append(member.name)
            rel = _strip_top(member.name)
            if read is not None and (wanted(rel) or wanted(member.name)):
                if member.size > self.limits.max_read_size:
                    cap = self.limits.max_read_size
                    raise InvalidSdist(self.path, f"member {member.name!r} is larger than {cap} bytes")
                data[member.name] = self._read_member(member, read)
        root = _common_root(names)
        cut = len(root) + 1 if root else 0
        return SdistFiles(root=root, names=[n[cut:] for n in names], data={k[cut:]: v for k, v in data.items()})

    def _read_member(self, member: SdistMember, read: Callable[[], BinaryIO]) -> bytes:
        """A wanted member's bytes; damaged data (bad CRC, inflate errors, short streams) is an InvalidSdist."""
        try:
            with read() as f:
                return f.read(self.limits.max_read_size + 1)
        except _CORRUPT as exc:
            raise InvalidSdist(self.path, f"member {member.name!r} is corrupt or truncated: {exc}") from None

    # -- tar -------------------------------------------------------------------------------------------------------

    def _tar_members(self) -> Iterator[Tuple[SdistMember, Optional[Callable[[], BinaryIO]]]]:
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as raw:
            stream = _BoundedStream(self.path, _decompressor(self.kind, raw), size, self.limits)
            # "r|": strictly sequential, so the inflated-bytes counter sees every byte before tarfile uses it
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                count = 0
                for info in tar:
                    count += 1
                    self._check_count(count)
                    self._check_declared_size(info, size, stream.inflated)
                    member = self._tar_member(info)
                    if member is None:
                        continue
                    opener = None
                    if member.kind == "file":
                        opener = _tar_opener(tar, info)
                    yield member, opener

    def _check_declared_size(self, info: tarfile.TarInfo, size: int, inflated: int) -> None:
        """Refuse a member larger than the file (plain tar) or than the caps let it inflate to, before tarfile
        skips over it: a base-256 size of 10^26 bytes would make that skip loop for ever."""
        if self.kind == "tar" and info.size > size:
            raise InvalidSdist(self.path, f"member {info.name[:200]!r} declares {info.size} bytes, more than the "
                               f"file holds ({size}; truncated or corrupt)")
        _check_inflated(self.path, inflated + info.size, size, self.limits)

    def _tar_member(self, info: tarfile.TarInfo) -> Optional[SdistMember]:
        name = _checked_name(self.path, info.name, self.limits.max_depth)
        if not name:
            return None
        if info.ischr() or info.isblk():
            raise InvalidSdist(self.path, f"member {info.name!r} is a device file")
        if info.isfifo():
            raise InvalidSdist(self.path, f"member {info.name!r} is a fifo")
        if info.isdir():
            return SdistMember(name, "dir", mode=info.mode)
        if info.issym():
            _check_link(self.path, name, info.linkname, hard=False)
            return SdistMember(name, "symlink", linkname=info.linkname.replace("\\", "/"))
        if info.islnk():
            _check_link(self.path, name, info.linkname, hard=True)
            return SdistMember(name, "hardlink", linkname=_checked_name(self.path, info.linkname))
        if info.isreg():
            return SdistMember(name, "file", size=info.size, mode=info.mode)
        raise InvalidSdist(self.path, f"member {info.name!r} has an unsupported type {info.type!r}")

    # -- zip -------------------------------------------------------------------------------------------------------

    def _zip_members(self) -> Iterator[Tuple[SdistMember, Optional[Callable[[], BinaryIO]]]]:
        size = os.path.getsize(self.path)
        with zipfile.ZipFile(self.path) as zf:
            infos = zf.infolist()
            self._check_count(len(infos))
            # the central directory declares every size up front, and zipfile never inflates past a declared
            # size, so a bomb is refused before a single byte is inflated
            _check_inflated(self.path, sum(i.file_size for i in infos), size, self.limits)
            for info in infos:
                member = self._zip_member(zf, info)
                if member is None:
                    continue
                opener = _zip_opener(zf, info) if member.kind == "file" else None
                yield member, opener

    def _zip_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Optional[SdistMember]:
        name = _checked_name(self.path, info.filename, self.limits.max_depth)
        if not name:
            return None
        if info.flag_bits & 0x1:
            raise InvalidSdist(self.path, f"member {info.filename!r} is encrypted")
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        if info.is_dir():
            return SdistMember(name, "dir")
        if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
            raise InvalidSdist(self.path, f"member {info.filename!r} is a device file")
        if mode and stat.S_ISFIFO(mode):
            raise InvalidSdist(self.path, f"member {info.filename!r} is a fifo")
        if mode and stat.S_ISLNK(mode):
            if info.file_size > 4096:
                raise InvalidSdist(self.path, f"link {info.filename!r} has a {info.file_size}-byte target")
            target = zf.read(info).decode("utf-8", "replace")
            _check_link(self.path, name, target, hard=False)
            return SdistMember(name, "symlink", linkname=target.replace("\\", "/"))
        return SdistMember(name, "file", size=info.file_size, mode=(mode & 0o777) or 0o644)

    def _check_count(self, count: int) -> None:
        if count > self.limits.max_members:
            raise InvalidSdist(self.path, f"more than {self.limits.max_members} members")


def _tar_opener(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], BinaryIO]:
    def open_member() -> BinaryIO:
        f = tar.extractfile(info)
        return f if f is not None else io.BytesIO()  # type: ignore[return-value]

    return open_member


def _zip_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], BinaryIO]:
    return lambda: zf.open(info)  # type: ignore[return-value]


def _strip_top(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name


def _common_root(names: List[str]) -> str:
    """The one top folder every member lives in, or "" when there is none (members at the top level)."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and any("/" in n for n in names):
        return tops.pop()
    return ""


def open_sdist(path: Union[str, os.PathLike], limits: Optional[ArchiveLimits] = None) -> SdistArchive:
    """Open an sdist for member-by-member reads; raises InvalidSdist when the file is no known container.

        >>> open_sdist("six-1.12.0.tar.gz").kind                                    # doctest: +SKIP
        'gz'
    """
    return SdistArchive(path, limits)


def extract_tree(
    path: Union[str, os.PathLike], dest: Union[str, os.PathLike], limits: Optional[ArchiveLimits] = None
) -> Path:
    """Unpack the sdist below a fresh temporary folder inside ``dest`` and return the project folder in it.

    Every member passes the archive guards first; once the archive has planted a symlink, each later write is
    also checked against the real (symlink-resolved) tree, so a link cannot redirect a later member outside.
    """
    archive = open_sdist(path, limits)
    writer = _TreeWriter(archive.path, os.path.realpath(tempfile.mkdtemp(prefix="wheelmeta-sdist-", dir=dest)))
    names: List[str] = []
    for member, opener in archive.members():
        try:
            writer.write(member, opener)
        except OSError as exc:  # e.g. a member below a name an earlier member made a file, or a short stream
            raise InvalidSdist(archive.path, f"cannot unpack member {member.name!r}: {exc.strerror or exc}") from None
        except _CORRUPT as exc:  # damaged member data met while copying it out
            raise InvalidSdist(archive.path, f"member {member.name!r} is corrupt or truncated: {exc}") from None
        names.append(member.name)
    root = _common_root(names)
    top = Path(writer.top)
    return top / root if root and (top / root).is_dir() else top


class _TreeWriter:
    """Writes checked members below ``top``. Until the first symlink, a member's checked relative path is its
    real place, so no path has to be resolved (a thousand-file sdist unpacks in milliseconds on tmpfs)."""

    def __init__(self, archive: str, top: str) -> None:
        self.archive = archive
        self.top = top
        self.links_planted = False
        self.folders = {top}

    def _inside(self, real: str) -> bool:
        return real == self.top or real.startswith(self.top + os.sep)

    def _parent(self, name: str) -> str:
        parent = os.path.join(self.top, os.path.dirname(name)) if os.path.dirname(name) else self.top
        if self.links_planted:
            parent = os.path.realpath(parent)
            if not self._inside(parent):
                raise InvalidSdist(self.archive, f"member {name!r} would be written outside the tree through a link")
        if parent not in self.folders:
            os.makedirs(parent, exist_ok=True)
            self.folders.add(parent)
        return parent

    def write(self, member: SdistMember, opener: Optional[Callable[[], BinaryIO]]) -> None:
        dest = os.path.join(self._parent(member.name), os.path.basename(member.name))
        if member.kind == "dir":
            if dest not in self.folders:
                os.makedirs(dest, exist_ok=True)
                self.folders.add(dest)
            return
        if os.path.lexists(dest) and not os.path.isdir(dest):
            os.unlink(dest)  # tar allows a later member to replace an earlier one
        if member.kind == "symlink":
            if not self._inside(os.path.realpath(os.path.join(os.path.dirname(dest), member.linkname))):
                raise InvalidSdist(self.archive, f"link {member.name!r} points outside the tree to {member.linkname!r}")
            os.symlink(member.linkname, dest)
            self.links_planted = True
        elif member.kind == "hardlink":
            source = os.path.realpath(os.path.join(self.top, member.linkname))
            if not self._inside(source) or not os.path.isfile(source):
                raise InvalidSdist(self.archive, f"hard link {member.name!r} names no earlier file {member.linkname!r}")
            os.link(source, dest)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(dest, flags, 0o755 if member.mode & 0o111 else 0o644)
            with os.fdopen(fd, "wb") as out:
                if opener is not None:
                    with opener() as f:
                        shutil.copyfileobj(f, out, _CHUNK)
