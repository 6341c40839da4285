"""The wheel container: zip central directory, bounded member streams, wheel filename, WHEEL, METADATA, RECORD.

Works on :class:`wheelmeta.sources.ByteSource` objects only; never opens sockets, never writes members to disk.

  zipdir.py    ZipDirectory.read(source): the EOCD (zip64 too) and the raw central directory bytes, usually in one
               tail read; .find(name) with bytes.find, no object per entry; .entries() lazily; .dist_info(project);
               iter_member/read_member inflate with a cap on inflated bytes and refuse overlapping entries.
  filename.py  parse_wheel_filename(filename) -> WheelFilename(name, version, build, tags).
  metadata.py  parse_metadata(data, source=..., provenance=...) -> DistMetadata, every Metadata-Version (1.0-2.5).
  wheelfile.py parse_wheel_info(data, source) -> WheelInfo; parse_record(data, source) -> [RecordRow].
  reader.py    read_wheel_metadata(path_or_source) -> DistMetadata; top_level_modules(path_or_source).
"""

from .filename import WheelFilename, is_wheel_filename, parse_wheel_filename
from .metadata import parse_metadata
from .reader import read_wheel_metadata, top_level_modules
from .zipdir import ZipDirectory, ZipEntry, compressed_range, iter_member, read_member

__all__ = [
    "WheelFilename",
    "ZipDirectory",
    "ZipEntry",
    "compressed_range",
    "is_wheel_filename",
    "iter_member",
    "parse_metadata",
    "parse_wheel_filename",
    "read_member",
    "read_wheel_metadata",
    "top_level_modules",
]
