"""The wheel container: zip central directory, bounded member streams, wheel filename, WHEEL, METADATA, RECORD.

Works on :class:`wheelmeta.sources.ByteSource` objects only; never opens sockets, never writes members to disk.

Planned modules (see ../shared/DESIGN.md):
  zipdir.py    ZipDirectory.read(source) -> EOCD (+zip64) and the raw central directory bytes;
               .find(name) -> ZipEntry | None without building an object per entry; .entries() iterates lazily;
               iter_member(source, entry, limit=...) yields inflated chunks with a cap on inflated bytes.
  filename.py  parse_wheel_filename(filename) -> WheelFilename(name, version, build, tags), InvalidWheel on error.
  metadata.py  parse_metadata(data: bytes, source=..., provenance=...) -> DistMetadata (every Metadata-Version).
  wheelfile.py parse_wheel_info(data) -> WheelInfo; parse_record(data) -> list of rows.
  reader.py    read_wheel_metadata(source) -> DistMetadata: the one .dist-info, METADATA parsed.
"""
