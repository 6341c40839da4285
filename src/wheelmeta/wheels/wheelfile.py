"""The ``WHEEL`` file (Wheel-Version, Root-Is-Purelib, Tag, Generator) and ``RECORD`` rows of a wheel.

    >>> info = parse_wheel_info(b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n", "x.whl")
    >>> info.wheel_version, info.root_is_purelib, [str(t) for t in info.tags]
    ((1, 0), True, ['py3-none-any'])
"""

from __future__ import annotations

import base64
import csv
import io
from typing import List, Mapping, NamedTuple, Optional, Tuple, Union

from packaging.tags import Tag

from ..errors import InvalidWheel
from .metadata import parse_headers

__all__ = ["WheelInfo", "RecordRow", "parse_wheel_info", "parse_record", "record_hash", "rewrite_record"]


class WheelInfo(NamedTuple):
    """What ``WHEEL`` says. ``tags`` keeps file order, compressed tag sets expanded."""

    wheel_version: Tuple[int, ...]
    root_is_purelib: bool
    tags: Tuple[Tag, ...]
    generator: Optional[str]


class RecordRow(NamedTuple):
    """One ``RECORD`` line: path, ``algorithm=digest`` (or None), size in bytes (or None)."""

    path: str
    hash: Optional[str]
    size: Optional[int]


def parse_wheel_info(data: Union[bytes, str], source: str) -> WheelInfo:
    """Parse ``WHEEL``.

    :raises InvalidWheel: when Wheel-Version is missing or not ``N.M``, or a Tag cannot be parsed.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    fields = parse_headers(text)
    raw_version = (fields.get("wheel-version") or [""])[0].strip()
    try:
        wheel_version = tuple(int(part) for part in raw_version.split("."))
    except ValueError:
        raise InvalidWheel(source, f"WHEEL has no valid Wheel-Version ({raw_version!r})") from None
    tags: List[Tag] = []
    for value in fields.get("tag", ()):
        parts = value.strip().split("-")
        if len(parts) != 3 or not all(parts):
            raise InvalidWheel(source, f"WHEEL has an invalid Tag {value.strip()!r}")
        # expanded in file order (packaging's parse_tag returns an unordered set)
        tags.extend(Tag(py, abi, plat) for py in parts[0].split(".") for abi in parts[1].split(".")
                    for plat in parts[2].split("."))
    purelib = (fields.get("root-is-purelib") or ["false"])[0].strip().lower() == "true"
    generator = (fields.get("generator") or [None])[0]
    return WheelInfo(wheel_version, purelib, tuple(dict.fromkeys(tags)), generator and generator.strip())


def parse_record(data: Union[bytes, str], source: str) -> List[RecordRow]:
    """Parse ``RECORD`` (CSV: path, hash, size).

    :raises InvalidWheel: on a row with more than three fields or a size that is not a number.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return _record_rows(text, source)
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit
        raise InvalidWheel(source, f"RECORD cannot be read as CSV: {exc}") from None


def _record_rows(text: str, source: str) -> List[RecordRow]:
    rows = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not row[0]:
            continue
        if len(row) > 3:
            raise InvalidWheel(source, f"RECORD line {number} has {len(row)} fields, expected 3")
        path, digest, size = (row + ["", ""])[:3]
        try:
            rows.append(RecordRow(path, digest or None, int(size) if size else None))
        except ValueError:
            raise InvalidWheel(source, f"RECORD line {number}: size {size!r} is not a number") from None
    return rows


def record_hash(digest: bytes, algorithm: str = "sha256") -> str:
    """A RECORD hash field: ``sha256=`` and the digest in URL-safe base64 without padding (PEP 376/427)."""
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def rewrite_record(data: Union[bytes, str], source: str, changed: Mapping[str, Tuple[str, int]]) -> bytes:
    """``RECORD`` with the (hash field, size) of each path in ``changed``; every other row as it was."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in parse_record(data, source):
        digest, size = changed.get(row.path, (row.hash or "", "" if row.size is None else row.size))
        writer.writerow([row.path, digest, size])
    return out.getvalue().encode("utf-8")
