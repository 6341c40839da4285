"""The crawler's unit of work: the facts of one distribution file, as a plain function of (settings, file).

:func:`file_facts` touches no store and returns only JSON-ready data, so the same call runs in a local thread, in
another process or on a Dask worker; the coordinator alone writes what comes back. Metadata is read the way
``wheelmeta lock`` reads it (:func:`~wheelmeta.extract.remote.read_dist_file_metadata`: PEP 658, range reads, the
sdist chain in the sandbox) and a Linux wheel is scanned as the lock scans it (:func:`~wheelmeta.resolve.facts.
scan_wheel`, range reads of the ELF members only).

    >>> facts = file_facts(CrawlSettings(scan=True), dist)             # doctest: +SKIP
    >>> facts.metadata["provenance"], facts.failures                   # doctest: +SKIP
    ('pep658', ())
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from ..errors import NetworkError, WheelmetaError

if TYPE_CHECKING:  # pragma: no cover
    from ..http import HttpClient
    from ..model import DistFile

__all__ = ["CrawlSettings", "FileFacts", "file_facts", "wants_scan", "METADATA", "SCAN", "network_step"]

#: Failure steps. A failure of the file itself (a broken sdist, a wheel that is not a zip) is a fact and is not
#: retried; a network failure is kept under ``<step>-network`` and retried by the next crawl.
METADATA = "metadata"
SCAN = "scan"


def network_step(step: str) -> str:
    """The failure step under which a network error of ``step`` is kept (retried by the next crawl)."""
    return f"{step}-network"


@dataclass(frozen=True)
class CrawlSettings:
    """How a worker connects: the same on every worker of a crawl (the per-host rate is per worker process)."""

    scan: bool = False
    rate: float = 0.0  # requests per second per host; 0: no limit
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    cert: Optional[str] = None
    # how sdists are read: setup.py under pythons[0] (else the worker's interpreter), then under each next one
    # where it failed (the answer's problems say so); allow_build runs the PEP 517 hook of an sdist setup.py
    # cannot answer for, installing build requirements from build_index_urls (crawl(): the crawl's indexes)
    pythons: Tuple[str, ...] = ()
    allow_build: bool = False
    build_index_urls: Tuple[str, ...] = ()


@dataclass(frozen=True)
class FileFacts:
    """What a worker learned about one file: bodies in the store's JSON forms, failures as (step, reason)."""

    sha256: str
    filename: str
    metadata: Optional[dict] = None  # store.metadata_to_json form
    audit: Optional[dict] = None  # {"audit": WheelAudit as a dict, "modules": [...]}
    failures: Tuple[Tuple[str, str], ...] = ()
    requests: int = 0  # requests this process sent meanwhile (exact with one task at a time per process)


def wants_scan(dist: "DistFile") -> bool:
    """True for a wheel with a Linux platform tag: the ones whose ELF facts a Nix build needs."""
    if dist.kind != "wheel" or dist.filename.endswith("-any.whl"):
        return False
    platforms = dist.filename[: -len(".whl")].rsplit("-", 1)[-1]
    return any("linux" in tag for tag in platforms.split("."))


_CLIENTS: Dict[CrawlSettings, "HttpClient"] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(settings: CrawlSettings) -> "HttpClient":
    """The one HTTP client of this process for these settings: its connections and its rate limit are shared by
    every task the process runs."""
    from ..http import HostRateLimit, HttpClient

    with _CLIENTS_LOCK:
        if settings not in _CLIENTS:
            _CLIENTS[settings] = HttpClient(
                timeout=settings.timeout, retries=settings.retries, backoff=settings.backoff, verify=settings.cert,
                rate_limit=HostRateLimit(settings.rate) if settings.rate > 0 else None)
        return _CLIENTS[settings]


def file_facts(settings: CrawlSettings, dist: "DistFile", metadata: bool = True,
               scan: Optional[bool] = None) -> FileFacts:
    """The metadata (when ``metadata``) and, for Linux wheels with ``settings.scan`` (or ``scan``), the scan of
    ``dist``. What cannot be learned is returned as a failure with its reason, never raised."""
    from ..resolve.facts import scan_wheel
    from ..store import metadata_to_json

    client = client_for(settings)
    before = client.requests
    found: dict = {"failures": []}
    if metadata:
        found["metadata"] = _attempt(found, METADATA,
                                     lambda: metadata_to_json(_read_metadata(dist, client, settings)))
    if (settings.scan if scan is None else scan) and wants_scan(dist):
        def read_scan() -> dict:
            audit, modules = scan_wheel(dist.url, client)
            return {"audit": dataclasses.asdict(audit), "modules": list(modules)}

        found["audit"] = _attempt(found, SCAN, read_scan)
    return FileFacts(sha256=dist.sha256 or "", filename=dist.filename, metadata=found.get("metadata"),
                     audit=found.get("audit"), failures=tuple(found["failures"]),
                     requests=client.requests - before)


def _read_metadata(dist: "DistFile", client: "HttpClient", settings: CrawlSettings):
    from ..extract.remote import read_dist_file_metadata

    return read_dist_file_metadata(dist, client=client, python=settings.pythons[0] if settings.pythons else None,
                                   fallback_pythons=settings.pythons[1:], allow_build=settings.allow_build,
                                   index_urls=list(settings.build_index_urls) or None)


def _attempt(found: dict, step: str, work):
    """``work()``, or None with the failure noted under ``step`` (``step-network`` for a network error)."""
    try:
        return work()
    except NetworkError as exc:
        found["failures"].append((network_step(step), exc.reason))
    except WheelmetaError as exc:
        found["failures"].append((step, f"{type(exc).__name__}: {exc.reason}"))
    return None
