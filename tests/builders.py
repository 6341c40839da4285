"""Fixture builders: real wheels (zip files) written with the standard library, for every test module to share.

    >>> path = make_wheel(tmp_path, "demo", "1.0", requires=["requests>=2; extra == 'http'"])   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

from packaging.utils import canonicalize_name as _canon  # noqa: F401  (re-exported for tests)


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
