"""Where bytes come from: one small protocol, several sources (a local file, bytes in memory, an HTTP range reader).

The containers in ``wheels/`` read through this seam only, so that the same zip code reads a local wheel with
``os.pread`` and a remote wheel with HTTP range requests (``http.RangeSource``)::

    >>> src = BytesSource(b"PK...", name="x.whl")
    >>> src.size
    5
    >>> src.read_at(0, 2)
    b'PK'
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO, Iterator, Protocol, Union, runtime_checkable

from .errors import InvalidArchive

__all__ = ["ByteSource", "LocalFileSource", "BytesSource", "FileObjectSource", "open_source", "file_sha256"]

DEFAULT_CHUNK = 1 << 20


@runtime_checkable
class ByteSource(Protocol):
    """Random-access, read-only bytes with a known size."""

    name: str  # path or URL, used in error messages
    size: int

    def read_at(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset`` (fewer only at end of file)."""

    def stream(self, offset: int, length: int, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        """The bytes ``[offset, offset + length)`` as chunks; a consumer may stop early (close the generator)."""


class LocalFileSource:
    """A local file read with ``os.pread``: no seek state, safe to share between threads."""

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        self.name = os.fspath(path)
        try:
            self._fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise InvalidArchive(self.name, exc.strerror or str(exc)) from None
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError as exc:  # pragma: no cover - fstat on an open fd hardly fails
            os.close(self._fd)
            raise InvalidArchive(self.name, str(exc)) from None

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise InvalidArchive(self.name, f"read at negative offset {offset} or length {length}")
        if offset >= self.size:  # a recorded offset past the end (zip64's 2^64-1 would overflow pread's off_t)
            return b""
        return os.pread(self._fd, min(length, self.size - offset), offset)

    def stream(self, offset: int, length: int, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        end = min(offset + length, self.size)  # never ask pread for an offset past the file
        while offset < end:
            data = os.pread(self._fd, min(chunk, end - offset), offset)
            if not data:
                return
            offset += len(data)
            yield data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "LocalFileSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


class BytesSource:
    """Bytes already in memory (a PEP 658 file, a test fixture)."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self._data = memoryview(data)
        self.name = name
        self.size = len(data)

    def read_at(self, offset: int, length: int) -> bytes:
        return bytes(self._data[offset : offset + length])

    def stream(self, offset: int, length: int, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        end = min(offset + length, self.size)
        for start in range(offset, end, chunk):
            yield bytes(self._data[start : min(start + chunk, end)])

    def close(self) -> None:
        pass


class FileObjectSource:
    """A seekable binary file object (not thread-safe: reads seek)."""

    def __init__(self, fileobj: BinaryIO, name: str = "<file>") -> None:
        self._f = fileobj
        self.name = name
        fileobj.seek(0, os.SEEK_END)
        self.size = fileobj.tell()

    def read_at(self, offset: int, length: int) -> bytes:
        if offset >= self.size:  # past the end: nothing, and no seek to an offset the OS cannot take
            return b""
        self._f.seek(offset)
        return self._f.read(min(length, self.size - offset))

    def stream(self, offset: int, length: int, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        end = min(offset + length, self.size)
        while offset < end:
            data = self.read_at(offset, min(chunk, end - offset))
            if not data:
                return
            offset += len(data)
            yield data

    def close(self) -> None:
        pass


def open_source(path_or_source: Union[str, os.PathLike, ByteSource]) -> ByteSource:
    """A ByteSource for a local path; a ByteSource is returned as it is."""
    if isinstance(path_or_source, (str, os.PathLike)):
        return LocalFileSource(path_or_source)
    return path_or_source


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """Hex SHA-256 of a local file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
