"""Metadata of a wheel or sdist at a URL, fetching as little as the server allows.

The order of attempts, cheapest first (the speed model in docs/design.md):

1. **PEP 658**: when the index offers the wheel's ``.metadata`` file, one request fetches it; its sha256 is checked
   against the hash the index announced. Provenance ``"pep658"``.
2. **Range reads**: a :class:`~wheelmeta.http.RangeSource` reads the tail (end-of-central-directory record and
   central directory), then the ``METADATA`` member's local header and bytes in one more range, unless the tail
   already held them. Provenance ``"wheel-metadata"``.
3. **Whole download**: a server that ignores, refuses or garbles ranges is remembered by the HTTP client and the
   wheel is downloaded once into a spooled temporary file (capped), then read the same way; its sha256 is checked.
   (A streaming front-to-back scan would not save bytes: bdist_wheel writes ``.dist-info`` last.)

An sdist URL is downloaded (hash checked, size capped) into a fresh temporary folder and read by the sdist chain.

    >>> md = read_remote_metadata("https://example.invalid/files/demo-1.0-py3-none-any.whl")   # doctest: +SKIP
    >>> md.provenance                                                                         # doctest: +SKIP
    'wheel-metadata'
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import posixpath
import tempfile
import urllib.parse
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Sequence, Tuple

from ..errors import MetadataError, NetworkError
from ..model import DistMetadata
from ..sources import file_sha256
from . import SDIST_SUFFIXES

if TYPE_CHECKING:  # pragma: no cover
    from ..http import HttpClient
    from ..model import DistFile

__all__ = ["read_remote_metadata", "read_dist_file_metadata", "split_hash_fragment", "METADATA_LIMIT"]

logger = logging.getLogger(__name__)

#: Largest METADATA accepted (inflated). Real ones reach a few MiB with a long README; this bounds memory.
METADATA_LIMIT = 64 * 1024 * 1024
#: Bytes read after a local file header's name in the same request, for its extra field (usually 0-32 bytes).
_LOCAL_HEADER_SLACK = 30 + 64


def split_hash_fragment(url: str) -> Tuple[str, Dict[str, str]]:
    """``"https://h/x.whl#sha256=ab12"`` -> ``("https://h/x.whl", {"sha256": "ab12"})``."""
    base, fragment = urllib.parse.urldefrag(url)
    hashes: Dict[str, str] = {}
    for part in fragment.split("&"):
        name, sep, value = part.partition("=")
        if sep and name.lower() in hashlib.algorithms_guaranteed and value:
            hashes[name.lower()] = value.lower()
    return base, hashes


def _filename_of(url: str) -> str:
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))


def read_remote_metadata(
    url: str,
    *,
    client: Optional["HttpClient"] = None,
    expected_sha256: Optional[str] = None,
    metadata_url: Optional[str] = None,
    metadata_hashes: Optional[Mapping[str, str]] = None,
    python: Optional[str] = None,
    allow_build: bool = False,
    index_urls: Optional[Sequence[str]] = None,
    allow_uncontained: bool = False,
    fallback_pythons: Sequence[str] = (),
) -> DistMetadata:
    """The metadata of the wheel or sdist at ``url`` (``http(s)://`` or ``file://``).

    ``metadata_url`` is the PEP 658 file to try first (``url + ".metadata"`` when the index offers it, see
    :func:`read_dist_file_metadata`), ``metadata_hashes`` the hashes the index announced for it. A ``#sha256=``
    fragment on ``url`` counts as ``expected_sha256``; it is checked whenever the whole file is downloaded.
    ``python``, ``allow_build``, ``index_urls``, ``allow_uncontained`` and ``fallback_pythons`` are passed to the
    sdist chain (:func:`wheelmeta.sdist.read_sdist_metadata`).

    :raises NetworkError: the server failed after retries or the download hash did not match.
    :raises InvalidWheel: the bytes are not a valid wheel.
    """
    from ..http import default_client

    url, fragment_hashes = split_hash_fragment(url)
    expected_sha256 = (expected_sha256 or fragment_hashes.get("sha256") or "").lower() or None
    client = client or default_client()
    filename = _filename_of(url)
    if filename.endswith(".whl"):
        if metadata_url:
            found = _read_pep658(metadata_url, metadata_hashes or {}, client, url)
            if found is not None:
                return found
        return _read_wheel_by_ranges(url, filename, client, expected_sha256)
    if filename.lower().endswith(SDIST_SUFFIXES):
        return _read_sdist_download(url, filename, client, expected_sha256, python, allow_build, index_urls,
                                    allow_uncontained, tuple(fallback_pythons))
    raise MetadataError(url, "not a wheel or sdist file name (expected .whl, .tar.gz, .zip, ...)")


def read_dist_file_metadata(dist: "DistFile", *, client: Optional["HttpClient"] = None, **kwargs) -> DistMetadata:
    """The metadata of a file an index listed: its PEP 658 file when offered (one request), else the file itself.

        >>> files = IndexClient([index_url]).files("demo")                 # doctest: +SKIP
        >>> read_dist_file_metadata(files[0]).provenance                   # doctest: +SKIP
        'pep658'
    """
    metadata_url = dist.url + ".metadata" if dist.core_metadata is not None and dist.kind == "wheel" else None
    return read_remote_metadata(
        dist.url,
        client=client,
        expected_sha256=dist.sha256,
        metadata_url=metadata_url,
        metadata_hashes=dist.core_metadata,
        **kwargs,
    )


def _read_pep658(metadata_url: str, hashes: Mapping[str, str], client: "HttpClient", url: str) -> Optional[DistMetadata]:
    """The PEP 658 file parsed, or None (with a warning) when it is missing or fails its hash: the wheel itself is
    the authority, so a bad ``.metadata`` file costs requests, not a wrong answer."""
    from ..wheels.metadata import parse_metadata

    try:
        data = client.get_bytes(metadata_url, limit=METADATA_LIMIT)
    except NetworkError as exc:
        logger.warning("%s; reading the wheel instead", exc)
        return None
    for algorithm, digest in hashes.items():
        if algorithm.lower() in hashlib.algorithms_guaranteed:
            actual = hashlib.new(algorithm.lower(), data).hexdigest()
            if actual != digest.lower():
                logger.warning(
                    "%s: %s %s does not match the index's %s; reading the wheel instead",
                    metadata_url, algorithm, actual, digest,
                )
                return None
            break
    return parse_metadata(data, source=url, provenance="pep658")


def _read_wheel_by_ranges(url: str, filename: str, client: "HttpClient", expected_sha256: Optional[str]) -> DistMetadata:
    """METADATA read through range requests (or the whole-download fallback) with the shared zip reader."""
    from ..http import RangeSource
    from ..wheels.filename import parse_wheel_filename
    from ..wheels.metadata import parse_metadata
    from ..wheels.zipdir import ZipDirectory

    if url.startswith("file:"):
        return _read_local_wheel(url)
    project = parse_wheel_filename(filename).name
    with RangeSource(url, client) as source:
        directory = ZipDirectory.read(source)
        folder = directory.dist_info(project)
        entry = directory.find(f"{folder}/METADATA")
        if entry is None:
            from ..errors import InvalidWheel

            raise InvalidWheel(url, f"{folder}/METADATA is missing")
        # the local header and the member's bytes in one request instead of two (the zip reader asks for each)
        source.prefetch(entry.header_offset, _LOCAL_HEADER_SLACK + len(entry.raw_name) + entry.compressed_size)
        data = directory.read_member(entry, limit=METADATA_LIMIT)
        if expected_sha256 and source.fell_back:
            _check_sha256(url, source.whole_file_sha256(), expected_sha256)
    return parse_metadata(data, source=url, provenance="wheel-metadata")


def _read_local_wheel(url: str) -> DistMetadata:
    from ..http import url_to_path
    from ..wheels.reader import read_wheel_metadata

    return dataclasses.replace(read_wheel_metadata(url_to_path(url)), source=url)


def _check_sha256(url: str, actual: Optional[str], expected: str) -> None:
    if actual is not None and actual != expected.lower():
        raise NetworkError(url, f"sha256 {actual} does not match the expected {expected}")


def _read_sdist_download(
    url: str,
    filename: str,
    client: "HttpClient",
    expected_sha256: Optional[str],
    python: Optional[str],
    allow_build: bool,
    index_urls: Optional[Sequence[str]],
    allow_uncontained: bool = False,
    fallback_pythons: Sequence[str] = (),
) -> DistMetadata:
    """Download the sdist into a fresh temporary folder (hash checked, size capped) and run the sdist chain."""
    from ..http import url_to_path

    def read_checked(path: str) -> DistMetadata:
        from ..sdist import read_sdist_metadata  # imported late: a bad hash is refused before any sdist code runs

        md = read_sdist_metadata(path, python=python, allow_build=allow_build, index_urls=index_urls,
                                 allow_uncontained=allow_uncontained, fallback_pythons=fallback_pythons)
        return dataclasses.replace(md, source=url)

    if url.startswith("file:"):
        path = url_to_path(url)
        if expected_sha256:
            _check_sha256(url, file_sha256(path), expected_sha256)
        return read_checked(path)
    with tempfile.TemporaryDirectory(prefix="wheelmeta-sdist-") as folder:
        path = os.path.join(folder, os.path.basename(filename) or "sdist.tar.gz")
        digest = hashlib.sha256()
        with open(path, "wb") as f:
            client.download_to(url, _HashingWriter(f, digest))
        if expected_sha256:
            _check_sha256(url, digest.hexdigest(), expected_sha256)
        return read_checked(path)


class _HashingWriter:
    """A file object that hashes what passes through it (the download is hashed without reading it twice)."""

    def __init__(self, f, digest) -> None:
        self._f = f
        self._digest = digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._f.write(data)
