"""The crawl coordinator: list projects, pick releases, hand each file to a worker, write what comes back.

Only this process writes the store. Project pages are fetched here (a few threads, conditional on the stored
``ETag`` / ``Last-Modified``); each file whose facts the store lacks becomes one :func:`~wheelmeta.crawl.tasks.
file_facts` task on a local thread pool or a Dask cluster, at most ``runner.slots`` in flight (memory stays flat
over an index of any size). Each result is committed as it arrives, so an interrupt loses only the tasks still
running, and a second crawl skips every file already known: nothing is done twice.
"""

from __future__ import annotations

import collections
import concurrent.futures
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import (
    TYPE_CHECKING,
    Callable,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from packaging.utils import canonicalize_name

from ..errors import UsageError, WheelmetaError
from ..index.provider import _with_local_facts
from ..index.simple import IndexClient
from ..resolve.facts import StoreIndexClient
from .runners import runner_for
from .tasks import (
    METADATA,
    SCAN,
    CrawlSettings,
    FileFacts,
    client_for,
    file_facts,
    network_step,
    wants_scan,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..model import DistFile
    from ..store import MetadataStore

__all__ = ["crawl", "CrawlReport", "select_releases", "parse_since"]


@dataclass
class CrawlReport:
    """What one crawl did; ``failures`` are this run's, as ``{"what", "step", "reason"}``."""

    projects: int = 0
    pages_not_modified: int = 0
    files_listed: int = 0
    files_selected: int = 0
    files_skipped: int = 0  # already known to the store
    files_done: int = 0  # tasks run and committed
    files_failed: int = 0  # tasks that recorded at least one failure
    requests: int = 0
    seconds: float = 0.0
    failures: List[Dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        rate = self.files_done / self.seconds if self.seconds else 0.0
        return {**self.__dict__, "seconds": round(self.seconds, 3), "files_per_second": round(rate, 2)}


class _CrawlIndex(StoreIndexClient):
    """The lock's store-recording index client, without its per-project memory (a crawl lists each project once;
    remembering every listing would grow with the index)."""

    def files(self, project: str) -> List["DistFile"]:
        key = canonicalize_name(project)
        try:
            found = IndexClient.files(self, key)
        finally:
            self._cache.pop(key, None)
        self.store.record_files(found)
        return found


def crawl(store: "MetadataStore", projects: Iterable[str], *, index_urls: Sequence[str], find_links: Sequence[str] = (),
          settings: Optional[CrawlSettings] = None, latest: Optional[int] = None, since: Optional[datetime] = None,
          jobs: int = 8, scheduler: str = "", on_queued: Callable[[int], None] = lambda n: None,
          on_file: Callable[[FileFacts], None] = lambda facts: None,
          versions: Optional[Mapping[str, Collection[str]]] = None) -> CrawlReport:
    """Fill ``store`` with the facts of every file of the selected releases of ``projects``.

    ``settings.allow_build`` without ``build_index_urls`` installs PEP 517 build requirements from ``index_urls``.

    ``versions`` names, per project (canonical name), the only releases to crawl of it (``--latest`` and
    ``--since`` still apply); a named version the index does not list is reported as a failure.

    ``on_queued(n)`` is told when n more files are queued, ``on_file(facts)`` after each file's facts are committed
    (progress bars; a KeyboardInterrupt raised there stops the crawl like Ctrl-C).
    """
    if jobs < 1:
        raise UsageError("--jobs", "must be at least 1")
    settings = settings or CrawlSettings()
    if settings.allow_build and not settings.build_index_urls:  # build requirements come from the crawl's indexes
        settings = replace(settings, build_index_urls=tuple(index_urls))
    client = client_for(settings)
    index = _CrawlIndex(store, index_urls, find_links, client)
    report = CrawlReport()
    requests_before, started = client.requests, time.monotonic()
    runner = runner_for(jobs, scheduler)
    remote = bool(scheduler)
    in_flight: Dict[object, "DistFile"] = {}
    # not a with-block: on Ctrl-C, waiting for the pages still coming would delay the stop
    pages = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="wheelmeta-pages")
    try:
        for project, files, error in _listings(index, projects, pages, ahead=4 * jobs):
            report.projects += 1
            if error is not None or not files:
                reason = error or f"no files on {index.describe()} (no such project?)"
                report.failures.append({"what": project, "step": "page", "reason": reason})
                continue
            report.files_listed += len(files)
            chosen = (versions or {}).get(canonicalize_name(project))
            if chosen is not None:
                files = _named_versions(project, files, chosen, report)
            selected = select_releases(files, latest=latest, since=since)
            report.files_selected += len(selected)
            work = _work(store, selected, settings, report)
            on_queued(len(work))
            for dist, wants in work:
                while len(in_flight) >= runner.slots:
                    _collect(runner, in_flight, store, report, remote, on_file)
                in_flight[runner.submit(file_facts, settings, dist, *wants)] = dist
        while in_flight:
            _collect(runner, in_flight, store, report, remote, on_file)
    finally:
        pages.shutdown(wait=False, cancel_futures=True)
        runner.close()
        report.pages_not_modified = index.not_modified
        report.requests += client.requests - requests_before
        report.seconds = time.monotonic() - started
    return report


def _named_versions(project: str, files: Sequence["DistFile"], chosen: Collection[str],
                    report: CrawlReport) -> List["DistFile"]:
    """The files of the named releases (versions compared as versions: ``1.0`` names ``1.0.0``)."""
    wanted = {_version_or_text(v) for v in chosen}
    kept = [f for f in files if f.version in wanted or str(f.version) in wanted]
    found = {f.version for f in kept} | {str(f.version) for f in kept}
    for missing in sorted(str(v) for v in wanted if v not in found):
        report.failures.append({"what": f"{project}=={missing}", "step": "page",
                                "reason": "the index lists no file of this version"})
    return kept


def _version_or_text(text: str):
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return text


def _listings(index: _CrawlIndex, projects: Iterable[str], pool, ahead: int) -> Iterator[Tuple[str, list, Optional[str]]]:
    """(project, files, error) as pages arrive, with up to ``ahead`` pages in flight (a slow page holds up no
    other project)."""
    pending: Dict[concurrent.futures.Future, str] = {}

    def finished(block: bool) -> Iterator[Tuple[str, list, Optional[str]]]:
        done, _ = concurrent.futures.wait(list(pending), timeout=None if block else 0,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            project = pending.pop(future)
            try:
                yield project, future.result(), None
            except WheelmetaError as exc:
                yield project, [], f"{type(exc).__name__}: {exc}"

    for project in projects:
        pending[pool.submit(index.files, project)] = project
        yield from finished(block=len(pending) >= ahead)
    while pending:
        yield from finished(block=True)


def _work(store: "MetadataStore", files: Sequence["DistFile"], settings: CrawlSettings,
          report: CrawlReport) -> List[Tuple["DistFile", Tuple[bool, bool]]]:
    """(file, (wants metadata, wants scan)) for each file the store does not know enough about yet."""
    hashed = [_with_local_facts(f) for f in files if not f.sha256 and f.url.startswith("file:")]
    store.record_files(hashed)  # listed without a hash, so not recorded with the page
    files = [f for f in files if f.sha256 or not f.url.startswith("file:")] + hashed
    known = store.known([f.sha256 for f in files if f.sha256])
    out = []
    for dist in files:
        if not dist.sha256:  # a remote file the index gives no hash for: hashing it would mean downloading it
            report.failures.append({"what": dist.filename, "step": "listing",
                                    "reason": "the index gives no sha256, so its facts cannot be keyed"})
            continue
        facts = known.get(dist.sha256, frozenset())
        wants_metadata = not facts & {"metadata", f"failed:{METADATA}"}
        wants_audit = settings.scan and wants_scan(dist) and not facts & {"audit", f"failed:{SCAN}"}
        if wants_metadata or wants_audit:
            out.append((dist, (wants_metadata, wants_audit)))
        else:
            report.files_skipped += 1
    return out


def _collect(runner, in_flight: Dict[object, "DistFile"], store: "MetadataStore", report: CrawlReport, remote: bool,
             on_file: Callable[[FileFacts], None]) -> None:
    """Wait for at least one task, commit what the finished ones learned."""
    done, _ = runner.wait_first(in_flight)
    for future in done:
        dist = in_flight.pop(future)
        try:
            facts = future.result()
        except Exception as exc:  # noqa: BLE001 - a worker's crash is this file's failure, not the crawl's end
            report.failures.append({"what": dist.filename, "step": "worker", "reason": f"{type(exc).__name__}: {exc}"})
            continue
        commit(store, facts)
        report.files_done += 1
        report.files_failed += bool(facts.failures)
        report.failures.extend({"what": facts.filename, "step": step, "reason": reason}
                               for step, reason in facts.failures)
        if remote:  # local tasks share this process's client, whose count is taken once at the end
            report.requests += facts.requests
        on_file(facts)


def commit(store: "MetadataStore", facts: FileFacts) -> None:
    """Write one file's facts in one transaction (and forget the network failures they overcame)."""
    cleared = [network_step(step) for step, body in ((METADATA, facts.metadata), (SCAN, facts.audit)) if body]
    store.record_file_facts(facts.sha256, metadata=facts.metadata, audit=facts.audit, failures=facts.failures,
                            cleared=cleared)


def select_releases(files: Sequence["DistFile"], *, latest: Optional[int] = None,
                    since: Optional[datetime] = None) -> List["DistFile"]:
    """The files of the releases to crawl: uploaded since ``since`` (a release with a file of unknown upload time
    counts, since the index does not say), then the ``latest`` newest of those; all without either."""
    by_version: Dict[object, List["DistFile"]] = collections.defaultdict(list)
    for dist in files:
        by_version[dist.version].append(dist)
    versions = sorted(by_version, reverse=True)
    if since is not None:
        versions = [v for v in versions if any(_uploaded_since(f, since) for f in by_version[v])]
    if latest is not None:
        versions = versions[:latest]
    return [f for v in versions for f in by_version[v]]


def _uploaded_since(dist: "DistFile", since: datetime) -> bool:
    if not dist.upload_time:
        return True
    try:
        return _as_utc(dist.upload_time) >= since
    except ValueError:
        return True


def _as_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_since(text: str) -> datetime:
    """``--since``: a date (``2025-01-31``) or an ISO 8601 time, UTC unless it says otherwise."""
    try:
        return _as_utc(text)
    except ValueError:
        raise UsageError("--since", f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
