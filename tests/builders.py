"""Fixture builders: real wheels (zip files) written with the standard library, for every test module to share.

    >>> path = make_wheel(tmp_path, "demo", "1.0", requires=["requests>=2; extra == 'http'"])   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

from packaging.utils import canonicalize_name as _canon  # noqa: F401  (re-exported for tests)


# METADATA with markers on python_version, sys_platform, os_name and extras (the acceptance wheel)
MARKER_DEMO_REQUIRES = [
    "requests>=2",
    'futures>=3; python_version < "3"',
    'pywin32>=300; sys_platform == "win32"',
    'uvloop>=0.17; sys_platform == "linux" and python_version >= "3.8"',
    'tomli>=1; python_version < "3.11"',
    'colorama; os_name == "nt"',
    'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
    'win-inet-pton; sys_platform == "win32" and python_version == "2.7" and extra == "socks"',
    'chardet<6,>=3.0.2; extra == "use-chardet-on-py3"',
]


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def metadata_text(
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requires_python: Optional[str] = None,
    extras: Iterable[str] = (),
    metadata_version: str = "2.1",
    extra_headers: Iterable[str] = (),
    summary: Optional[str] = "A test distribution",
) -> str:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if summary is not None:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {e}" for e in extras]
    lines += [f"Requires-Dist: {r}" for r in requires]
    lines += list(extra_headers)
    return "\n".join(lines) + "\n\n"


def make_wheel(
    folder: Union[str, Path],
    name: str = "demo",
    version: str = "1.0",
    *,
    tag: str = "py3-none-any",
    requires: Iterable[str] = (),
    requires_python: Optional[str] = None,
    extras: Iterable[str] = (),
    metadata: Optional[Union[str, bytes]] = None,
    files: Optional[Dict[str, bytes]] = None,
    compression: int = zipfile.ZIP_DEFLATED,
    dist_info: Optional[str] = None,
    wheel_file: Optional[str] = None,
    record: bool = True,
    filename: Optional[str] = None,
) -> Path:
    """Write a wheel and return its path. ``files`` maps member paths to bytes (ELF libraries, modules...)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dist_name = name.replace("-", "_")
    filename = filename or f"{dist_name}-{version}-{tag}.whl"
    dist_info = dist_info or f"{dist_name}-{version}.dist-info"
    if metadata is None:
        metadata = metadata_text(name, version, requires, requires_python, extras)
    if isinstance(metadata, str):
        metadata = metadata.encode("utf-8")
    purelib = "true" if tag.endswith("-any") else "false"
    if wheel_file is None:
        tags = []
        py, abi, plat = tag.split("-")
        for p in py.split("."):
            for a in abi.split("."):
                for pl in plat.split("."):
                    tags.append(f"Tag: {p}-{a}-{pl}")
        wheel_file = "Wheel-Version: 1.0\nGenerator: wheelmeta-tests\nRoot-Is-Purelib: %s\n%s\n" % (
            purelib,
            "\n".join(tags),
        )
    members: Dict[str, bytes] = {}
    members.update(files or {})
    members[f"{dist_info}/METADATA"] = metadata
    members[f"{dist_info}/WHEEL"] = wheel_file.encode()
    path = folder / filename
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        rows = []
        for member, data in members.items():
            zf.writestr(member, data)
            rows.append(f"{member},{_record_hash(data)},{len(data)}")
        if record:
            rows.append(f"{dist_info}/RECORD,,")
            zf.writestr(f"{dist_info}/RECORD", "\n".join(rows) + "\n")
    return path


def make_sdist(
    folder: Union[str, Path],
    name: str = "demo",
    version: str = "1.0",
    *,
    files: Optional[Dict[str, Union[str, bytes]]] = None,
    fmt: str = "tar.gz",
    root: Optional[str] = None,
) -> Path:
    """Write an sdist (``tar.gz``, ``tar.bz2``, ``tar.xz`` or ``zip``) holding ``files`` below ``name-version/``.

        >>> make_sdist(tmp_path, files={"PKG-INFO": metadata_text("demo", "1.0"), "setup.py": "..."})  # doctest: +SKIP
    """
    import io
    import tarfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    root = f"{name}-{version}" if root is None else root
    path = folder / f"{name}-{version}.{fmt}"
    members = {(f"{root}/{k}" if root else k): (v.encode() if isinstance(v, str) else v) for k, v in (files or {}).items()}
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        return path
    mode = {"tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz", "tar": "w"}[fmt]
    with tarfile.open(path, mode) as tf:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return path


# ---------------------------------------------------------------------------------------------------------------------
# zip crafting (hostile zips for the container tests): real zip bytes written by zipfile, then edited field by field

_CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")


def zip_bytes(members: Dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED, comments=None) -> bytes:
    """A zip of ``members`` in memory; ``comments`` maps member names to per-entry comments."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if comments and name in comments:
                info.comment = comments[name]
            zf.writestr(info, data)
    return buf.getvalue()


def central_headers(data: bytes):
    """(offset in file, name) of every central directory header, walking from the EOCD record."""
    eocd = data.rfind(b"PK\x05\x06")
    count, _, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    pos, out = cd_offset, []
    for _ in range(count):
        fields = _CENTRAL_HEADER.unpack_from(data, pos)
        out.append((pos, data[pos + 46 : pos + 46 + fields[10]].decode()))
        pos += 46 + fields[10] + fields[11] + fields[12]
    return out


def patch_central(data: bytes, name: str, **fields: int) -> bytes:
    """Overwrite central header fields (``crc``, ``csize``, ``usize``, ``offset``) of the member ``name``."""
    where = {"crc": 16, "csize": 20, "usize": 24, "offset": 42}
    out = bytearray(data)
    (pos,) = [pos for pos, n in central_headers(data) if n == name]
    for field_name, value in fields.items():
        struct.pack_into("<I", out, pos + where[field_name], value)
    return bytes(out)


def local_offset(data: bytes, name: str) -> int:
    """Where the local header of ``name`` starts, as its central header says."""
    (pos,) = [pos for pos, n in central_headers(data) if n == name]
    return struct.unpack_from("<I", data, pos + 42)[0]


def to_zip64(data: bytes) -> bytes:
    """Rewrite a small zip as a zip64 one: every size and offset in zip64 extra fields, a zip64 EOCD record and
    locator, and the classic EOCD saturated (0xFFFF / 0xFFFFFFFF), so a reader ignoring zip64 cannot read it."""
    headers = central_headers(data)
    cd_start = headers[0][0]
    central = bytearray()
    for pos, _name in headers:
        fields = list(_CENTRAL_HEADER.unpack_from(data, pos))
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        name = data[pos + 46 : pos + 46 + name_len]
        old_extra = data[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        comment = data[pos + 46 + name_len + extra_len : pos + 46 + name_len + extra_len + comment_len]
        extra = struct.pack("<HHQQQ", 1, 24, fields[9], fields[8], fields[16]) + old_extra
        fields[1] = fields[2] = 45  # version made by / needed: zip64
        fields[8] = fields[9] = fields[16] = 0xFFFFFFFF
        fields[11] = len(extra)
        central += _CENTRAL_HEADER.pack(*fields) + name + extra + comment
    count = len(headers)
    z64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), cd_start)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, cd_start + len(central), 1)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:cd_start] + bytes(central) + z64 + locator + eocd
