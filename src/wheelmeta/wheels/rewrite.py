"""Write a new wheel from an old one: a few members replaced, every other member copied as compressed bytes.

Patching a 555 MB wheel changes a handful of ELF members. Unpacking and re-zipping it (what a script does)
inflates and deflates every member; copying the unchanged members' compressed bytes as they are costs one read
and one write, so the work left is recompressing the members that really changed.

The standard library's :mod:`zipfile` writes the new archive (local headers, the central directory, zip64 when
needed); it has no public call for a raw copy, so :func:`_copy_raw` writes the member's local header with
``ZipInfo.FileHeader`` and registers the entry the way ``ZipFile.write`` itself does. The result is written next
to its final name and renamed into place: an error or an interrupt leaves no half-written wheel behind.

    >>> rewrite_wheel("in/demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",               # doctest: +SKIP
    ...               "out/demo-1.0-cp311-cp311-linux_x86_64.whl",
    ...               {"demo/_ext.so": Path("/tmp/patched.so"), "demo-1.0.dist-info/RECORD": b"..."})
"""

from __future__ import annotations

import copy
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Mapping, Union

from ..errors import InvalidWheel, WheelmetaError

__all__ = ["rewrite_wheel", "Replacement"]

#: new contents of a member: bytes, or a file whose bytes are streamed in
Replacement = Union[bytes, Path]

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIG = b"PK\x03\x04"
_DATA_DESCRIPTOR = 0x08
_ZIP64_EXTRA = 0x0001
_COPY_CHUNK = 1 << 20


def rewrite_wheel(
    source: Union[str, os.PathLike],
    destination: Union[str, os.PathLike],
    replacements: Mapping[str, Replacement],
    *,
    compresslevel: int = 6,
) -> Path:
    """Write ``destination``: the members of ``source`` in their order, those named in ``replacements`` with the
    new contents (deflated at ``compresslevel``), the others copied raw. Returns the destination path.

    :raises InvalidWheel: a replaced member that ``source`` does not have, or a member whose local header is
        not where the central directory says.
    :raises WheelmetaError: the destination cannot be written (it names the folder and the OS's reason).
    """
    source, destination = Path(source), Path(destination)
    try:
        handle, partial = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent)
    except OSError as exc:
        raise WheelmetaError(destination.parent, f"cannot write the patched wheel here: {exc.strerror or exc}")
    os.close(handle)
    try:
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(partial, "w", allowZip64=True) as zout:
            missing = set(replacements) - set(zin.NameToInfo)
            if missing:
                raise InvalidWheel(source, f"has no member {sorted(missing)[0]!r} to replace")
            for info in zin.infolist():
                new = replacements.get(info.filename)
                if new is None:
                    _copy_raw(zin, zout, info, source)
                else:
                    _write_new(zout, info, new, compresslevel)
        os.chmod(partial, 0o644)
        os.replace(partial, destination)
    except OSError as exc:
        raise WheelmetaError(destination, f"cannot write the patched wheel: {exc.strerror or exc}")
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return destination


def _write_new(zout: zipfile.ZipFile, old: zipfile.ZipInfo, new: Replacement, compresslevel: int) -> None:
    info = zipfile.ZipInfo(old.filename, date_time=old.date_time)
    info.external_attr = old.external_attr
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = compresslevel  # type: ignore[attr-defined]  # ZipFile.open has no level argument
    if isinstance(new, bytes):
        zout.writestr(info, new)
        return
    size = new.stat().st_size
    with open(new, "rb") as src, zout.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as dst:
        shutil.copyfileobj(src, dst, _COPY_CHUNK)


def _copy_raw(zin: zipfile.ZipFile, zout: zipfile.ZipFile, info: zipfile.ZipInfo, source: Path) -> None:
    """Copy one member's compressed bytes as they are, under a fresh local header."""
    fin: BinaryIO = zin.fp  # type: ignore[assignment]
    fin.seek(info.header_offset)
    header = fin.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIG:
        raise InvalidWheel(source, f"member {info.filename!r}: no local header where the central directory says")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
    fin.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    out = copy.copy(info)
    out.flag_bits &= ~_DATA_DESCRIPTOR  # sizes and CRC go into the header, no descriptor follows
    out.extra = _without_zip64(info.extra)  # FileHeader adds its own when the sizes need it
    out.header_offset = zout.fp.tell()  # type: ignore[union-attr]
    fout: BinaryIO = zout.fp  # type: ignore[assignment]
    fout.write(out.FileHeader())
    left = info.compress_size
    while left:
        chunk = fin.read(min(left, _COPY_CHUNK))
        if not chunk:
            raise InvalidWheel(source, f"member {info.filename!r} is truncated")
        fout.write(chunk)
        left -= len(chunk)
    # register the entry as ZipFile.write does, so close() writes it into the central directory
    zout.filelist.append(out)
    zout.NameToInfo[out.filename] = out
    zout.start_dir = fout.tell()
    zout._didModify = True  # type: ignore[attr-defined]


def _without_zip64(extra: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, pos)
        if kind != _ZIP64_EXTRA:
            out += extra[pos : pos + 4 + length]
        pos += 4 + length
    return bytes(out)
