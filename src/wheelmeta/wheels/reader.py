"""Wheel-level reads: the metadata of a wheel and its top-level import names, from the zip directory alone.

    >>> md = read_wheel_metadata("dist/requests-2.32.3-py3-none-any.whl")          # doctest: +SKIP
    >>> md.name, md.provenance
    ('requests', 'wheel-metadata')
    >>> top_level_modules("dist/requests-2.32.3-py3-none-any.whl")                 # doctest: +SKIP
    ['requests']

Cost: one tail read (EOCD and, for ordinary wheels, the whole central directory), one read of ``METADATA``.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple, Union

from packaging.utils import canonicalize_name
from packaging.version import Version

from ..errors import InvalidWheel
from ..model import DistMetadata
from ..sources import ByteSource, open_source
from .filename import parse_wheel_filename
from .metadata import parse_headers, parse_metadata
from .zipdir import ZipDirectory, ZipEntry

__all__ = ["read_wheel_metadata", "top_level_modules", "open_wheel", "METADATA_LIMIT"]

#: the largest METADATA we inflate (long descriptions reach a few MB; anything bigger is hostile)
METADATA_LIMIT = 32 << 20
_SMALL_MEMBER_LIMIT = 4 << 20
_HEADER_STEP = 16 << 10  # inflate METADATA in steps of this size until its headers end

PathOrSource = Union[str, "os.PathLike[str]", ByteSource]


@contextmanager
def open_wheel(path_or_source: PathOrSource) -> Iterator[Tuple[ZipDirectory, str, Optional[Tuple[str, str]]]]:
    """(zip directory, the one .dist-info folder, (canonical name, version) from the filename or None); closes a
    file it opened itself."""
    source = open_source(path_or_source)
    try:
        filename = _filename_facts(source.name)
        zd = ZipDirectory.read(source)
        yield zd, zd.dist_info(filename[0] if filename else None), filename
    finally:
        if source is not path_or_source:
            source.close()


def read_wheel_metadata(path_or_source: PathOrSource) -> DistMetadata:
    """The wheel's ``METADATA`` as :class:`~wheelmeta.model.DistMetadata` (provenance ``wheel-metadata``).

    :raises InvalidWheel: not a zip, no or several ``.dist-info`` folders, one for another project, no METADATA.
    :raises MetadataError: METADATA without Name or Version.
    """
    with open_wheel(path_or_source) as (zd, dist_info, filename):
        entry = zd.find(f"{dist_info}/METADATA")
        if entry is None:
            raise InvalidWheel(zd.source.name, f"{dist_info}/METADATA is missing")
        data = read_header_block(zd, entry)
        metadata = parse_metadata(data, source=zd.source.name, provenance="wheel-metadata")
    problems = _filename_problems(metadata, filename, zd.source.name)
    if problems:
        metadata = dataclasses.replace(metadata, problems=metadata.problems + tuple(problems))
    return metadata


def read_header_block(zd: ZipDirectory, entry: ZipEntry) -> bytes:
    """The member up to and including its first blank line: the headers of METADATA, without the description.

    A long description (60 KB for numpy) is most of what inflating METADATA costs, and no field we read is in
    it. Small members are read whole (and CRC-checked); larger ones are inflated in steps until the blank line.
    """
    if entry.file_size <= _HEADER_STEP:
        return zd.read_member(entry, limit=METADATA_LIMIT)
    buffer = bytearray()
    blocks = zd.iter_member(entry, limit=METADATA_LIMIT, chunk=_HEADER_STEP)
    try:
        for block in blocks:
            searched = max(0, len(buffer) - 2)
            buffer += block
            end = _blank_line_end(buffer, searched)
            if end is not None:
                return bytes(buffer[:end])
    finally:
        blocks.close()
    return bytes(buffer)


def _blank_line_end(buffer: bytearray, start: int) -> Optional[int]:
    """Offset just past the first blank line (``\\n\\n`` or ``\\n\\r\\n``) at or after ``start``, or None."""
    ends = [i for i in (buffer.find(b"\n\n", start), buffer.find(b"\n\r\n", start)) if i != -1]
    if not ends:
        return None
    first = min(ends)
    return first + (2 if buffer[first + 1 : first + 2] == b"\n" else 3)


def top_level_modules(path_or_source: PathOrSource) -> List[str]:
    """Importable top-level names, from the best source the wheel has: ``Import-Name`` fields of Metadata 2.5
    (PEP 794, first components), else ``top_level.txt``, else derived from member paths.

    Derived names are the first path component of every member outside ``.dist-info`` (``.data/purelib`` and
    ``.data/platlib`` contents included) that is a package folder or a module (``.py``, ``.so``, ``.pyd``).
    """
    with open_wheel(path_or_source) as (zd, dist_info, _):
        declared = _declared_import_names(zd, dist_info)
        if declared is not None:
            return declared
        entry = zd.find(f"{dist_info}/top_level.txt")
        if entry is not None:
            text = zd.read_member(entry, limit=_SMALL_MEMBER_LIMIT).decode("utf-8", "replace")
            names = {line.strip().replace("/", ".") for line in text.splitlines()}
            return sorted(name for name in names if name and all(p.isidentifier() for p in name.split(".")))
        return sorted({name for name in map(_top_level_name, zd.names()) if name})


def _declared_import_names(zd: ZipDirectory, dist_info: str) -> Optional[List[str]]:
    """First components of the METADATA ``Import-Name`` fields (``; private`` ones too: they still import);
    None when METADATA declares none, [] when it declares an empty one (nothing to import)."""
    entry = zd.find(f"{dist_info}/METADATA")
    if entry is None:
        return None
    fields = parse_headers(read_header_block(zd, entry).decode("utf-8", "replace"))
    if "import-name" not in fields:
        return None
    names = {value.split(";", 1)[0].strip().split(".", 1)[0] for value in fields["import-name"]}
    return sorted(name for name in names if name.isidentifier())


def _top_level_name(member: str) -> Optional[str]:
    parts = member.split("/")
    if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
        parts = parts[2:]
    elif parts[0].endswith((".dist-info", ".data")):
        return None
    if len(parts) > 1:
        return parts[0] if parts[0].isidentifier() else None
    stem = parts[0].split(".", 1)[0]
    if parts[0].endswith((".py", ".so", ".pyd")) and stem.isidentifier():
        return stem
    return None


def _filename_facts(name: str) -> Optional[Tuple[str, str]]:
    """(canonical project name, version as written) from the wheel filename of a path or URL; None for sources
    without one (bytes in memory...). Only these two parts are needed here, so the tags are not parsed."""
    base = name.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not base.endswith(".whl"):
        return None
    parts = base[: -len(".whl")].split("-")
    if len(parts) not in (5, 6) or not all(parts):
        parse_wheel_filename(base)  # raises InvalidWheel with the precise reason
    return canonicalize_name(parts[0]), parts[1]


def _filename_problems(metadata: DistMetadata, filename: Optional[Tuple[str, str]], where: str) -> List[str]:
    if filename is None:
        return []
    problems = []
    name, version = filename
    if canonicalize_name(metadata.name) != name:
        problems.append(f"METADATA Name {metadata.name!r} differs from the filename's {name!r}")
    if metadata.version != version and _normalized(metadata.version) != _normalized(version):
        problems.append(f"METADATA Version {metadata.version!r} differs from the filename's {version!r}")
    return problems


def _normalized(version: str) -> str:
    try:
        return str(Version(version))
    except ValueError:  # InvalidVersion, or a release number too long for int()
        return version
