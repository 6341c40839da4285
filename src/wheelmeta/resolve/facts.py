"""Where the resolver and the lock get their facts: the metadata store first, then the index and the files.

:class:`StoreIndexClient` lists a project's files like :class:`~wheelmeta.index.simple.IndexClient` and keeps every
page it fetches in the store (with its ``ETag`` / ``Last-Modified``); offline, it answers from the stored pages
alone. :class:`Facts` answers "what does this file need" (metadata, through PEP 658, range reads or the sdist chain)
and "what does this wheel link against" (the scan), reading the store first and recording what it learned.

    >>> facts = Facts(MetadataStore.open(), StoreIndexClient(store, [index_url]), target)   # doctest: +SKIP
    >>> facts.metadata(dist).provenance                                                    # doctest: +SKIP
    'pep658'
"""

from __future__ import annotations

import collections.abc
import dataclasses
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from packaging.utils import canonicalize_name

from ..errors import StoreError, WheelmetaError
from ..http import Page
from ..index.provider import _with_local_facts
from ..index.simple import ACCEPT, IndexClient, _first_by_filename, project_page_url
from ..model import DistFile, DistMetadata, WheelAudit
from ..store import StoredFiles, is_fresh, text_sha256

if TYPE_CHECKING:  # pragma: no cover
    from packaging.version import Version

    from ..store import MetadataStore
    from ..target import Target

__all__ = ["StoreIndexClient", "Facts", "ABSENT", "PREFETCH_THREADS", "scan_wheel"]

logger = logging.getLogger(__name__)

#: Worker threads that fetch pages and metadata ahead of the resolver (network-bound work).
PREFETCH_THREADS = 8
#: Content type recorded for a project page the index answered 404 for, so that offline also knows "not there".
ABSENT = "x-wheelmeta/absent"


class _Once:
    """Compute each key's value once, whichever thread asks first; the others wait for it (a prefetch and the
    resolver asking for the same page or metadata cost one fetch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict = {}
        self._values: dict = {}

    def get(self, key, compute: Callable[[], object]):
        with self._lock:
            if key in self._values:
                return self._values[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]


class StoreIndexClient(IndexClient):
    """An IndexClient that records each project page in the store with the files parsed from it, or (``offline``)
    reads them from there only.

    Online, a stored page is used without a request while its ``Cache-Control: max-age`` lasts (``refresh``
    revalidates anyway), is revalidated with its ``ETag`` / ``Last-Modified`` after that, and a page that comes
    again in full with the same text keeps the files parsed before: a warm run parses no page.
    """

    def __init__(self, store: "MetadataStore", index_urls: Optional[Sequence[str]] = None,
                 find_links: Sequence[str] = (), client=None, *, offline: bool = False, refresh: bool = False) -> None:
        super().__init__(index_urls, find_links, client)
        self.store = store
        self.offline = offline
        self.refresh = refresh
        self._listed = _Once()
        self.not_modified = 0  # pages the index answered 304 for: the stored copy was current

    def files_by_version(self, project: str) -> Mapping["Version", List[DistFile]]:
        """The project's files grouped by version, as :meth:`files` lists them; the files of a stored page are built
        for the versions looked up only (a resolution reads the newest few of numpy's hundreds)."""
        key = canonicalize_name(project)
        return self._listed.get(key, lambda: self._group(key))

    def files(self, project: str) -> List[DistFile]:
        return self.files_by_version(project).all()

    def _group(self, project: str) -> "_FilesByVersion":
        sources = [self._index_source(index_url, project) for index_url in self.index_urls]
        linked = [dist for location in self.find_links for dist in self._find_links_files(location, project)]
        if not self.offline and linked:  # index pages recorded theirs when they were parsed
            self.store.record_files(linked)
        return _FilesByVersion([*sources, _Listed(linked)])

    def _index_files(self, index_url: str, project: str) -> List[DistFile]:
        return self._index_source(index_url, project).all()

    def _index_source(self, index_url: str, project: str) -> Union[StoredFiles, "_Listed"]:
        """The project's files on one index: the stored page's rows when the store's copy is current (or
        ``offline``), else the page fetched, parsed and recorded."""
        url = project_page_url(index_url, project)
        stored = self.store.page(url, count=False, body=False)
        if self.offline:
            if stored is None:
                raise StoreError(self.store.path, f"--offline: the store has no listing of {project} from "
                                                  f"{index_url}; run once online to record it")
            return self._stored_files(stored, url, index_url, project)
        if stored is not None and not self.refresh and is_fresh(stored["fetched_at"], stored["max_age"]):
            return self._stored_files(stored, url, index_url, project)
        validators = {k: stored[k] for k in ("etag", "last_modified") if stored and stored[k]}
        page = self.http.get_page(url, accept=ACCEPT, validators=validators or None)
        if page is not None and (page.not_modified or stored and stored["files"] is not None
                                 and stored["body_sha256"] == text_sha256(page.text)):
            self.not_modified += page.not_modified  # one small request: the stored copy is current
            if page.max_age or stored["max_age"]:  # the stored copy is current: fresh again from now
                self.store.touch_page(url, page.max_age)
            return self._stored_files(stored, url, index_url, project)
        if page is None:
            if stored is None or stored["content_type"] != ABSENT:  # already known absent: nothing to write
                self.store.record_page(url, project, index_url, Page(url, ABSENT, ""))
            return _Listed([])
        files = self._parse_project_page(page, index_url, project)
        self.store.record_page(url, project, index_url, page, files)
        self.store.record_files(files)
        return _Listed(files)

    def _stored_files(self, stored: dict, url: str, index_url: str, project: str) -> Union[StoredFiles, "_Listed"]:
        """The files of a stored page: its parsed rows, or (a page stored by schema 1, rows that do not read back)
        the page parsed again."""
        self.store.reads += 1
        if stored["content_type"] == ABSENT:
            return _Listed([])
        def reparse() -> List[DistFile]:  # a damaged derived copy: the page body is the source of truth
            page = Page(stored["final_url"], stored["content_type"], self.store.page(url, count=False)["body"])
            return self._parse_project_page(page, index_url, project)

        if stored["files"] is not None:
            try:
                return StoredFiles(stored["files"], index_url, reparse)
            except (ValueError, TypeError, KeyError) as exc:
                logger.debug("%s: stored file rows unreadable (%s), page parsed again", stored["final_url"], exc)
        return _Listed(reparse())


class _Listed:
    """Files already in hand (a page parsed this run, find-links), answering as :class:`StoredFiles` does."""

    def __init__(self, files: List[DistFile]) -> None:
        self._files = files
        self._by_version: dict = {}
        for dist in files:
            self._by_version.setdefault(dist.version, []).append(dist)

    def versions(self) -> List["Version"]:
        return list(self._by_version)

    def files(self, version: "Version") -> List[DistFile]:
        return self._by_version.get(version, [])

    def all(self) -> List[DistFile]:
        return list(self._files)


class _FilesByVersion(collections.abc.Mapping):
    """A project's files on all indexes and find-links locations by version: what ``IndexClient.files`` lists (index
    order, a file name seen twice keeps its first listing), each version's files gathered when first looked up."""

    def __init__(self, sources: Sequence[Union[StoredFiles, _Listed]]) -> None:
        self._sources = sources
        self._holders: dict = {}  # Version -> the sources that list it, in index order
        for source in sources:
            for version in source.versions():
                self._holders.setdefault(version, []).append(source)
        self._files: dict = {}

    def __getitem__(self, version: "Version") -> List[DistFile]:
        found = self._files.get(version)
        if found is None:
            holders = self._holders[version]  # KeyError for a version no index lists, as a dict would
            found = self._files[version] = _first_by_filename(d for source in holders for d in source.files(version))
        return found

    def __iter__(self) -> Iterator["Version"]:
        return iter(self._holders)

    def __len__(self) -> int:
        return len(self._holders)

    def all(self) -> List[DistFile]:
        """Every file, in the order ``IndexClient.files`` gives."""
        return _first_by_filename(d for source in self._sources for d in source.all())


class Facts:
    """Metadata and scans of distribution files for one target, store first."""

    def __init__(self, store: "MetadataStore", index: IndexClient, target: "Target", *, offline: bool = False,
                 python: Optional[str] = None) -> None:
        self.store = store
        self.index = index
        self.target = target
        self.offline = offline
        self._python = python
        self._hashed: dict = {}  # url -> (sha256, size) of remote files hashed by download
        self._metadata = _Once()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()
        self._python_checked = python is not None
        self._python_lock = threading.Lock()
        self.fetched = 0  # facts learned from the network or the files this run (not from the store)
        # prefetching hides network latency; over local indexes it only adds threads contending for the GIL
        self._all_local = all(url.startswith("file:") or "://" not in url
                              for url in (*index.index_urls, *index.find_links))

    @property
    def python(self) -> Optional[str]:
        """The interpreter setup.py files run with: the target's version when one runs here (checked once)."""
        with self._python_lock:  # sdists are read from several threads; probe once
            if not self._python_checked:
                from ..extract import _interpreter_for

                self._python, self._python_checked = _working(_interpreter_for(self.target)), True
        return self._python

    def keyed(self, dist: DistFile) -> DistFile:
        """The file with its sha256: the store keys facts by it and a lock must name it. A local file is hashed;
        a remote one the index gave no hash for (a direct reference, a hashless index) is downloaded once."""
        if dist.sha256:
            return dist
        if dist.url.startswith("file:"):
            return _with_local_facts(dist)
        if self.offline:
            raise StoreError(self.store.path, f"--offline: {dist.url} has no sha256 to look its facts up by")
        key = dist.url
        if key not in self._hashed:
            digest = _HashingSink()
            size = self.index.http.download_to(dist.url, digest)
            self._hashed[key] = (digest.hexdigest(), size)
        sha256, size = self._hashed[key]
        return dataclasses.replace(dist, hashes={**dist.hashes, "sha256": sha256}, size=dist.size or size)

    def metadata(self, dist: DistFile) -> DistMetadata:
        """The dependency metadata of ``dist``: stored, else read (PEP 658, ranges, sdist chain) and stored."""
        return self._metadata.get(dist.url, lambda: self._read_metadata(dist))

    def prefetch(self, work: Callable[[], object]) -> None:
        """Run ``work`` (fetching a page or metadata the resolver will ask for soon) on a worker thread; its
        failure is ignored here, as the resolver meets it again when it asks itself. Nothing runs offline or when
        every index is local (``file://`` or a folder): there is no latency to hide."""
        if self.offline or self._all_local:
            return
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=PREFETCH_THREADS, thread_name_prefix="wheelmeta-prefetch")
            self._pool.submit(_quietly, work)

    def close(self) -> None:
        """Wait for prefetches still running (they write to the store) and stop the workers."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _read_metadata(self, dist: DistFile) -> DistMetadata:
        from ..extract.remote import read_dist_file_metadata

        dist = self.keyed(dist)
        found = self.store.metadata(dist.sha256)
        if found is not None:
            return found
        if self.offline:
            raise StoreError(self.store.path, f"--offline: the store has no metadata of {dist.filename} "
                                              f"({dist.name} {dist.version}); run once online to record it")
        python = self.python if dist.kind == "sdist" else None
        try:
            found = read_dist_file_metadata(dist, client=self.index.http, python=python)
        except WheelmetaError as exc:
            if dist.sha256:  # a failed sdist is a fact too (a crawler reports it; a lock names it)
                self.store.record_failure(dist.sha256, "metadata", exc.reason)
            raise
        self.fetched += 1
        if dist.sha256:
            self.store.record_metadata(dist.sha256, found)
        return found

    def scan(self, wheel: DistFile) -> Optional[Tuple[WheelAudit, Tuple[str, ...]]]:
        """(audit, top-level modules) of a wheel with native code, stored or read by range requests; None for
        a pure wheel (``-none-any``: no platform, nothing for autoPatchelfHook)."""
        if wheel.filename.endswith("-any.whl"):
            return None
        wheel = self.keyed(wheel)
        found = self.store.audit(wheel.sha256)
        if found is not None:
            return found
        if self.offline:
            raise StoreError(self.store.path, f"--offline: the store has no scan of {wheel.filename}; "
                                              "run once online to record it")
        audit, modules = scan_wheel(wheel.url, self.index.http)
        self.fetched += 1
        if wheel.sha256:
            self.store.record_audit(wheel.sha256, audit, modules)
        return audit, modules


class _HashingSink:
    """A write-only file object that only hashes what it is given."""

    def __init__(self) -> None:
        import hashlib

        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _quietly(work: Callable[[], object]) -> None:
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - a prefetch only warms caches; the resolver reports real failures
        logger.debug("prefetch failed: %s", exc)


def _working(python: Optional[str]) -> Optional[str]:
    """``python`` when it runs (a pyenv shim of a version not selected does not); else None, meaning the running
    interpreter, which the sdist's result then names in its ``python_version``."""
    import subprocess

    if python is None:
        return None
    try:
        subprocess.run([python, "-c", "pass"], check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        logger.warning("%s does not run; setup.py files run with this interpreter instead", python)
        return None
    return python


def scan_wheel(url: str, client) -> Tuple[WheelAudit, Tuple[str, ...]]:
    """The audit and the top-level modules of the wheel at ``url``, by range reads over one RangeSource."""
    from ..http import RangeSource, url_to_path
    from ..manylinux.audit import audit_source
    from ..patchelf_nix.expression import import_modules
    from ..sources import LocalFileSource

    if url.startswith("file:"):
        path = url_to_path(url)
        with LocalFileSource(path) as source:
            audit = audit_source(source, name=url)
        return audit, tuple(import_modules(path))
    with RangeSource(url, client) as source:
        audit = audit_source(source, name=url)
        modules = tuple(import_modules(source))  # the central directory is already in the source's cache
    return audit, modules
