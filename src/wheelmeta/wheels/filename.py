"""Wheel filenames (``{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl``), parsed with packaging.

    >>> wf = parse_wheel_filename("requests-2.32.3-py3-none-any.whl")
    >>> wf.name, wf.version, sorted(str(t) for t in wf.tags)
    ('requests', '2.32.3', ['py3-none-any'])
"""

from __future__ import annotations

import os
from typing import FrozenSet, NamedTuple, Optional, Tuple

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name
from packaging.utils import parse_wheel_filename as _packaging_parse
from packaging.version import Version

from ..errors import InvalidWheel

__all__ = ["WheelFilename", "parse_wheel_filename", "is_wheel_filename"]


class WheelFilename(NamedTuple):
    """The parts of a wheel filename. ``name`` is canonical (PEP 503), ``version`` normalized when valid."""

    name: str
    version: str
    build: Optional[Tuple[int, str]]  # (number, tag) or None
    tags: FrozenSet[Tag]

    @property
    def platforms(self) -> FrozenSet[str]:
        """The platform tags (``manylinux_2_17_x86_64``, ``any``...)."""
        return frozenset(tag.platform for tag in self.tags)


def parse_wheel_filename(filename: str) -> WheelFilename:
    """Parse the basename of ``filename``; lenient about legacy versions, strict about the shape.

    :raises InvalidWheel: when it is not a wheel filename at all.
    """
    base = os.path.basename(filename)
    try:
        name, version, build, tags = _packaging_parse(base)
        parsed = WheelFilename(str(name), str(version), tuple(build) if build else None, frozenset(tags))
    except ValueError as exc:  # InvalidWheelFilename, or a number too long for int()
        # old wheels on the index carry versions packaging >= 22 refuses ("1.0-beta"); accept them as written
        parsed = _parse_legacy(base, filename, " ".join(str(exc).split())[:300])
    if any(not (tag.interpreter and tag.abi and tag.platform) for tag in parsed.tags):
        raise InvalidWheel(filename, "not a wheel filename: a compressed tag set has an empty component ('..')")
    return parsed


def _parse_legacy(base: str, filename: str, strict_error: str) -> WheelFilename:
    if not base.endswith(".whl"):
        raise InvalidWheel(filename, "not a wheel filename (no .whl suffix)")
    parts = base[: -len(".whl")].split("-")
    if len(parts) not in (5, 6) or not all(parts):
        raise InvalidWheel(filename, f"not a wheel filename: {strict_error}")
    build = None
    if len(parts) == 6:
        digits = len(parts[2]) - len(parts[2].lstrip("0123456789"))
        if not digits or digits > 64:
            raise InvalidWheel(filename, f"build tag {parts[2][:80]!r} does not start with a number of 1 to 64 digits")
        build = (int(parts[2][:digits]), parts[2][digits:])
    try:
        version = str(Version(parts[1]))
    except ValueError:  # InvalidVersion, or a release number too long for int()
        version = parts[1]
    tags = frozenset(parse_tag("-".join(parts[-3:])))
    return WheelFilename(canonicalize_name(parts[0]), version, build, tags)


def is_wheel_filename(filename: str) -> bool:
    """True when ``filename`` parses as a wheel filename."""
    try:
        parse_wheel_filename(filename)
    except InvalidWheel:
        return False
    return True
