"""The only module that touches the network: one ``requests.Session``, bounded retries, timeouts, range reads that
are checked, memory of servers that ignore ranges, and counters of requests and bytes.

Two public pieces:

* :class:`HttpClient` wraps one session. ``get_bytes``/``get_page`` fetch whole bodies (``file://`` URLs are read
  from disk, so a ``file:///...`` index works like a remote one), ``read_range``/``read_tail``/``stream_range`` fetch
  byte ranges and check ``Content-Range`` and the body length against what was asked.
* :class:`RangeSource` is a :class:`~wheelmeta.sources.ByteSource` over a URL, so the zip reader in ``wheels/``
  reads a remote wheel exactly as it reads a local one::

      >>> client = HttpClient()
      >>> src = RangeSource("https://example.invalid/x-1.0-py3-none-any.whl", client)   # doctest: +SKIP
      >>> src.size, client.requests                                                       # doctest: +SKIP
      (104857811, 1)

How a remote wheel is read (the speed model in docs/design.md): the first request asks for the last 66 KiB with a
suffix range (``bytes=-67584``). Its ``Content-Range`` gives the size; its body holds the end-of-central-directory
record and usually the whole central directory and the ``.dist-info`` members, which bdist_wheel writes last. Reads
that fall inside bytes already fetched cost nothing. When a server ignores ranges (answers 200 with the whole body),
refuses them, or answers a ``Content-Range`` other than the one asked for, the host is remembered and the file is
downloaded once into a spooled temporary file with a size cap: slower, never wrong.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import IO, Dict, Iterator, Mapping, Optional, Set, Tuple

from .errors import NetworkError
from .sources import DEFAULT_CHUNK, FileObjectSource

__all__ = [
    "HttpClient",
    "HostRateLimit",
    "RangeSource",
    "Page",
    "default_client",
    "url_to_path",
    "TAIL_SIZE",
    "DEFAULT_MAX_DOWNLOAD",
]

logger = logging.getLogger(__name__)

#: Bytes asked for by the first request of a RangeSource: the zip reader looks for the end-of-central-directory
#: record in the last 64 KiB + 22 bytes (the longest zip comment plus the record), and this covers that read and
#: the central directory of most wheels.
TAIL_SIZE = 66 * 1024
#: Cap on whole-file downloads (servers without ranges, sdists): the largest wheels on indexes are ~1 GiB.
DEFAULT_MAX_DOWNLOAD = 4 * 1024**3
#: Status codes worth retrying: the server asked us to slow down or failed transiently.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Smallest range fetched for a read that misses the cache: zip readers read a 30-byte local header, then the
#: member; reading ahead serves the neighbouring small members of a wheel from one request instead of two each.
READ_AHEAD = 64 * 1024
#: The most of a streamed body left unread that is read anyway to keep its connection: a new connection costs a TCP
#: and TLS handshake and a name lookup (which a resolver may answer only after a 5 s timeout), far more than this.
DRAIN_LIMIT = 256 * 1024
#: Cached blocks beyond this many bytes are dropped oldest first (the tail block stays): memory stays bounded.
CACHE_LIMIT = 32 * 1024 * 1024
#: Longest wait honoured from a Retry-After header, so a hostile or confused server cannot stall us for hours.
MAX_RETRY_AFTER = 30.0
#: an index page larger than this, raw or inflated, is refused (the largest real project pages are a few MB)
MAX_PAGE = 64 << 20
#: Ask for raw bytes: a transparently gzipped body would make byte offsets meaningless.
IDENTITY = {"Accept-Encoding": "identity"}

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    """A fetched index page: its final URL (after redirects, for relative links), content type and text."""

    url: str
    content_type: str
    text: str
    etag: Optional[str] = None  # validators kept so a later fetch (the store, a crawl) can ask "changed since?"
    last_modified: Optional[str] = None
    not_modified: bool = False  # a 304 to a conditional request: the caller's copy is current
    max_age: Optional[int] = None  # seconds the page stays fresh (Cache-Control max-age less Age); None: revalidate


def cache_lifetime(headers: Mapping[str, str]) -> Optional[int]:
    """Seconds a response stays fresh by its ``Cache-Control: max-age`` less its ``Age`` (RFC 9111 4.2), as pip's
    and uv's HTTP caches keep index pages; None when it must be revalidated (no max-age, ``no-cache``,
    ``no-store``)."""
    directives = {}
    for part in (headers.get("Cache-Control") or "").split(","):
        key, _, value = part.strip().partition("=")
        directives[key.strip().lower()] = value.strip().strip('"')
    if "no-cache" in directives or "no-store" in directives or not directives.get("max-age", "").isdigit():
        return None
    age = headers.get("Age", "0").strip()
    lifetime = int(directives["max-age"]) - (int(age) if age.isdigit() else 0)
    return lifetime if lifetime > 0 else None


def _requests_exception():
    from requests import RequestException

    return RequestException


def _one_context_adapter():
    """A requests adapter whose TLS connections share one SSL context per CA bundle.

    requests hands urllib3 the CA bundle's path for every new connection, and each connection loads the whole bundle
    again into a context of its own (20-25 ms of CPU for the usual bundle; a lock's eight prefetch threads open eight
    connections at once). Here the bundle a connection pool would load is loaded once into a context its connections
    share; verification is the same (CERT_REQUIRED, the same bundle, hostnames checked). Client certificates and
    ``verify=False`` go the usual way."""
    import ssl

    from requests.adapters import HTTPAdapter
    from requests.utils import DEFAULT_CA_BUNDLE_PATH
    from urllib3.util.ssl_ import create_urllib3_context

    class OneContextAdapter(HTTPAdapter):
        def __init__(self) -> None:
            super().__init__()
            self._contexts: Dict[str, ssl.SSLContext] = {}
            self._contexts_lock = threading.Lock()

        def build_connection_pool_key_attributes(self, request, verify, cert=None):
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
            bundle = pool_kwargs.get("ca_certs") or pool_kwargs.get("ca_cert_dir")
            if verify is True and not bundle:
                bundle = DEFAULT_CA_BUNDLE_PATH
            if host_params.get("scheme") == "https" and verify and not cert and bundle and os.path.exists(bundle):
                pool_kwargs = {k: v for k, v in pool_kwargs.items() if k not in ("ca_certs", "ca_cert_dir")}
                pool_kwargs["ssl_context"] = self._context(bundle)
            return host_params, pool_kwargs

        def cert_verify(self, conn, url, verify, cert) -> None:
            super().cert_verify(conn, url, verify, cert)
            if getattr(conn, "conn_kw", {}).get("ssl_context") in self._contexts.values():
                conn.ca_certs = conn.ca_cert_dir = None  # the shared context holds the bundle already

        def _context(self, bundle: str) -> ssl.SSLContext:
            with self._contexts_lock:
                if bundle not in self._contexts:
                    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
                    if os.path.isdir(bundle):
                        context.load_verify_locations(capath=bundle)
                    else:
                        context.load_verify_locations(cafile=bundle)
                    self._contexts[bundle] = context
                return self._contexts[bundle]

    return OneContextAdapter()


def _file_validator(path: str) -> str:
    """An ETag for a local index page: its modification time and size (a mirror rewrites the file to change it)."""
    st = os.stat(path)
    return f'"file-{st.st_mtime_ns}-{st.st_size}"'


def url_to_path(url: str) -> str:
    """The local path of a ``file://`` URL (``file:///opt/pypi/simple`` -> ``/opt/pypi/simple``)."""
    path = urllib.parse.urlsplit(url).path
    if os.name == "posix" and "%" not in path and not path.startswith("//"):
        return path  # what url2pathname gives for such a path, without loading urllib.request (13 ms of a warm lock)
    # imported here: urllib.request loads http.client and email, which a lock may need neither of
    from urllib.request import url2pathname

    return url2pathname(path)


def _host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _strip_fragment(url: str) -> str:
    return urllib.parse.urldefrag(url)[0]


def parse_content_range(value: Optional[str]) -> Optional[Tuple[int, int, Optional[int]]]:
    """``"bytes 0-99/1000"`` -> ``(0, 99, 1000)``; total None for ``*``; None when absent or malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    first, last, total = match.groups()
    return int(first), int(last), None if total == "*" else int(total)


class HostRateLimit:
    """At most ``per_second`` requests to each host (``scheme://host:port``), shared by every thread of a process:
    a crawler is a good citizen of the index it reads. Retries count too."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._next: Dict[str, float] = {}  # host -> the earliest time its next request may go
        self._lock = threading.Lock()

    def wait(self, url: str) -> None:
        """Sleep until a request to the host of ``url`` is allowed, and book that slot."""
        host = _host_of(url)
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class RangeUnusable(Exception):
    """Internal: the server did not answer a range request with the range asked for (reason in args[0])."""


class HttpClient:
    """One ``requests.Session`` with bounded retries, timeouts and accounting.

    ``requests`` and ``bytes_received`` count every request sent (retries included) and every body byte read;
    tests and benchmarks read them. ``no_range_hosts`` remembers hosts (``scheme://host:port``) that ignored,
    refused or garbled a range request, so later reads on the same host go straight to a whole download;
    ``no_suffix_range_hosts`` those that refused only suffix ranges (``bytes=-N``).

        >>> client = HttpClient(timeout=10, retries=2)
        >>> client.requests, client.bytes_received
        (0, 0)
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_download: int = DEFAULT_MAX_DOWNLOAD,
        session=None,
        user_agent: Optional[str] = None,
        verify: Optional[str] = None,
        rate_limit: Optional["HostRateLimit"] = None,
    ) -> None:
        self._user_agent = user_agent
        self._verify = verify
        self._session = None if session is None else self._configured(session)
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_download = max_download
        self.requests = 0
        self.bytes_received = 0
        self.no_range_hosts: Set[str] = set()
        self.no_suffix_range_hosts: Set[str] = set()
        self.rate_limit = rate_limit
        self._lock = threading.Lock()

    @property
    def session(self):
        """The requests session, made on first use: a run answered from the store and local files (a warm lock,
        ``--offline``, a ``file://`` index) never loads the HTTP stack."""
        with self._lock:
            if self._session is None:
                import requests

                session = requests.Session()
                session.mount("https://", _one_context_adapter())
                self._session = self._configured(session)
            return self._session

    def _configured(self, session):
        from . import __version__

        session.headers["User-Agent"] = self._user_agent or f"wheelmeta/{__version__}"
        if self._verify:  # a CA bundle path (pip's `cert`); otherwise requests' own bundle / REQUESTS_CA_BUNDLE
            session.verify = self._verify
        return session

    # -- accounting ----------------------------------------------------------------------------------------------

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _count_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_received += n

    def reset_counters(self) -> None:
        """Zero ``requests`` and ``bytes_received`` (benchmarks measure one step at a time)."""
        with self._lock:
            self.requests = 0
            self.bytes_received = 0

    # -- the one place a request is sent ---------------------------------------------------------------------------

    def request(self, url: str, *, headers: Optional[Mapping[str, str]] = None, method: str = "GET"):
        """Send one request with retries on connection errors, 429 and 5xx; return the streamed response.

        The caller reads the body (raw, counted: ``_iter_body``) and closes the response. Any other 4xx/5xx than the retried
        ones is returned as it is: callers decide (a 404 on an index page means "no such project").
        """
        url = _strip_fragment(url)
        attempt = 0
        while True:
            if self.rate_limit is not None:
                self.rate_limit.wait(url)
            self._count_request()
            try:
                response = self.session.request(
                    method, url, headers=dict(headers or {}), stream=True, timeout=self.timeout, allow_redirects=True
                )
            except _requests_exception() as exc:
                if attempt >= self.retries:
                    raise NetworkError(url, f"request failed after {attempt + 1} attempts: {exc}") from None
                self._sleep_before_retry(attempt, None)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                retry_after = response.headers.get("Retry-After")
                response.close()
                self._sleep_before_retry(attempt, retry_after)
                attempt += 1
                continue
            return response

    def _sleep_before_retry(self, attempt: int, retry_after: Optional[str]) -> None:
        delay = self.backoff * (2**attempt)
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff rather than parse calendars
        time.sleep(min(delay, MAX_RETRY_AFTER))

    def _iter_body(self, response, chunk: int) -> Iterator[bytes]:
        """The raw body in chunks, counted as it arrives (``decode_content=False``: offsets stay byte offsets)."""
        try:
            for data in response.raw.stream(chunk, decode_content=False):
                if data:
                    self._count_bytes(len(data))
                    yield data
        except Exception as exc:  # urllib3's ProtocolError, ReadTimeoutError, ... : the connection died mid-body
            raise NetworkError(response.url, f"connection broken while reading: {exc}") from None

    @staticmethod
    def _check_status(url: str, response) -> None:
        if response.status_code >= 400:
            reason = response.reason or ""
            response.close()
            raise NetworkError(url, f"HTTP {response.status_code} {reason}".strip())

    # -- whole bodies ----------------------------------------------------------------------------------------------

    def get_bytes(self, url: str, *, limit: Optional[int] = None, headers: Optional[Mapping[str, str]] = None) -> bytes:
        """The whole body of ``url`` (``file://`` read from disk); more than ``limit`` bytes is a NetworkError."""
        buffer = io.BytesIO()
        self.download_to(url, buffer, limit=limit, headers=headers)
        return buffer.getvalue()

    def get_page(self, url: str, *, accept: str, validators: Optional[Mapping[str, str]] = None) -> Optional[Page]:
        """An index page as text, or None when the server says 404/410 (pip's meaning: no such project here).

        A ``file://`` URL naming a folder reads ``index.html`` inside it, as pip does; a local page's ETag is its
        modification time and size, so a caller's copy is confirmed without reading the file. ``validators`` (``etag``,
        ``last_modified`` of a copy the caller keeps) make the request conditional; a 304 answer comes back as a
        Page with ``not_modified`` set and no text.
        """
        if url.startswith("file:"):
            path = url_to_path(url)
            if os.path.isdir(path):
                path = os.path.join(path, "index.html")
            if not os.path.isfile(path):
                return None
            etag = _file_validator(path)
            if validators and validators.get("etag") == etag:
                return Page(url, "", "", etag=etag, not_modified=True)
            with open(path, "rb") as f:
                data = f.read()
            kind = "application/vnd.pypi.simple.v1+json" if path.endswith(".json") else "text/html"
            return Page(url, kind, data.decode("utf-8", "replace"), etag=etag)
        # only encodings _decode_content knows (requests would also offer br when brotli happens to be installed)
        headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        response = self.request(url, headers=headers)
        if response.status_code in (404, 410):
            response.close()
            return None
        if response.status_code == 304 and validators:
            response.close()
            return Page(response.url, "", "", etag=validators.get("etag"),
                        last_modified=validators.get("last_modified"), not_modified=True,
                        max_age=cache_lifetime(response.headers))
        self._check_status(url, response)
        with response:
            data = _bounded_join(url, self._iter_body(response, 256 * 1024))
        # requests decompresses Content-Encoding itself in .content; we read raw, so undo gzip by hand
        data = _decode_content(url, data, response.headers.get("Content-Encoding", ""))
        content_type = response.headers.get("Content-Type", "text/html")
        charset = _charset(content_type)
        return Page(response.url, content_type, data.decode(charset, "replace"),
                    etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
                    max_age=cache_lifetime(response.headers))

    def download_to(
        self, url: str, fileobj: IO[bytes], *, limit: Optional[int] = None, response=None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> int:
        """Stream the whole body of ``url`` into ``fileobj``; return its size. More than ``limit``: NetworkError.

        ``response`` is an already open 200 answer to reuse (a server that ignored a Range header sent it).
        """
        limit = self.max_download if limit is None else limit
        if url.startswith("file:"):
            return _copy_local(url, fileobj, limit)
        if response is None:
            response = self.request(url, headers={**IDENTITY, **(headers or {})})
        self._check_status(url, response)
        total = 0
        with response:
            for data in self._iter_body(response, DEFAULT_CHUNK):
                total += len(data)
                if total > limit:
                    raise NetworkError(url, f"body larger than the cap of {limit} bytes")
                fileobj.write(data)
        return total

    # -- ranges ------------------------------------------------------------------------------------------------------

    def ranges_work(self, url: str) -> bool:
        """False once the host of ``url`` ignored, refused or garbled a range request."""
        return _host_of(url) not in self.no_range_hosts

    def _forget_ranges(self, url: str, why: str) -> None:
        host = _host_of(url)
        if host not in self.no_range_hosts:
            logger.warning("%s: %s; reading whole files from %s from now on", url, why, host)
            self.no_range_hosts.add(host)

    def _open_range(self, url: str, header: str, want: Tuple[Optional[int], int]):
        """Send a range request and check the answer before any byte is used.

        ``want`` is ``(first, length)``, or ``(None, n)`` for a suffix range. Returns ``(response, first, last,
        total)``; raises RangeUnusable (host remembered) when the server ignored the range, refused it or answered
        another range than the one asked for.
        """
        response = self.request(url, headers={**IDENTITY, "Range": header})
        if response.status_code == 200:
            # the whole body is coming: hand the open response up, so the fallback reuses it instead of asking again
            self._forget_ranges(url, "server ignores Range requests (answered 200)")
            raise RangeUnusable("ignored", response)
        if response.status_code == 416:
            # we never ask past the end (reads are clamped to the size), so 416 means "no ranges here"
            response.close()
            if want[0] is None:
                self.no_suffix_range_hosts.add(_host_of(url))
                raise RangeUnusable("suffix refused")
            self._forget_ranges(url, "server refuses Range requests (answered 416)")
            raise RangeUnusable("refused")
        if response.status_code != 206:
            self._check_status(url, response)
            response.close()
            self._forget_ranges(url, f"unexpected HTTP {response.status_code} to a Range request")
            raise RangeUnusable("status")
        parsed = parse_content_range(response.headers.get("Content-Range"))
        problem = _range_problem(parsed, want)
        if problem:
            response.close()
            self._forget_ranges(url, f"asked for {header}, got Content-Range {response.headers.get('Content-Range')!r}"
                                f" ({problem})")
            raise RangeUnusable("content-range")
        first, last, total = parsed  # type: ignore[misc]
        length_header = response.headers.get("Content-Length")
        if length_header is not None and length_header.isdigit() and int(length_header) != last - first + 1:
            response.close()
            self._forget_ranges(url, f"Content-Length {length_header} disagrees with Content-Range {first}-{last}")
            raise RangeUnusable("content-length")
        return response, first, last, total

    def read_range(self, url: str, offset: int, length: int) -> Tuple[bytes, Optional[int]]:
        """Bytes ``[offset, offset + length)`` of ``url`` by one range request, and the file size if the server
        said it. Raises RangeUnusable when the server cannot do it (the caller falls back to a whole download)."""
        header = f"bytes={offset}-{offset + length - 1}"
        response, first, last, total = self._open_range(url, header, (offset, length))
        return self._range_body(url, response, first, last), total

    def _range_body(self, url: str, response, first: int, last: int) -> bytes:
        """The whole body of a range answer, which must be exactly ``first..last``; else RangeUnusable."""
        with response:
            data = b"".join(self._iter_body(response, DEFAULT_CHUNK))
        if len(data) != last - first + 1:
            self._forget_ranges(url, f"range body of {len(data)} bytes for Content-Range {first}-{last}")
            raise RangeUnusable("short body")
        return data

    def read_tail(self, url: str, length: int) -> Tuple[int, bytes]:
        """The last ``length`` bytes of ``url`` (all of it when smaller) and the file size, in one request when the
        server takes suffix ranges, else two (``bytes=0-0`` for the size, then the tail)."""
        host = _host_of(url)
        if host not in self.no_suffix_range_hosts:
            try:
                response, first, last, total = self._open_range(url, f"bytes=-{length}", (None, length))
            except RangeUnusable as exc:
                if exc.args[0] != "suffix refused":
                    raise
            else:
                if total is None:
                    response.close()
                    self._forget_ranges(url, "suffix range answered without a total size")
                    raise RangeUnusable("no total")
                return total, self._range_body(url, response, first, last)
        _, total = self.read_range(url, 0, 1)
        if total is None:
            self._forget_ranges(url, "range answered without a total size")
            raise RangeUnusable("no total")
        start = max(0, total - length)
        data, _ = self.read_range(url, start, total - start)
        return total, data

    def _drain(self, response) -> None:
        """Read (and count) the rest of a body nobody wants, so its connection is reused; a failure only means the
        connection is closed instead."""
        try:
            for _ in self._iter_body(response, DRAIN_LIMIT):
                pass
        except NetworkError:
            pass

    def stream_range(self, url: str, offset: int, length: int, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        """Bytes ``[offset, offset + length)`` by one range request, yielded as they arrive.

        The answer is checked before the first chunk is yielded (RangeUnusable otherwise); a body that ends short
        is a NetworkError. Closing the generator early reads what is left when it is at most :data:`DRAIN_LIMIT`
        bytes, so that the connection goes back to the pool; otherwise it closes the connection and the rest is
        never downloaded.
        """
        header = f"bytes={offset}-{offset + length - 1}"
        response, first, last, _ = self._open_range(url, header, (offset, length))
        expected = last - first + 1
        received = 0
        with response:
            try:
                for data in self._iter_body(response, chunk):
                    received += len(data)
                    yield data
            except GeneratorExit:
                if 0 < expected - received <= DRAIN_LIMIT:
                    self._drain(response)
                raise
        if received != expected:
            raise NetworkError(url, f"range {header} ended after {received} of {expected} bytes")


def _range_problem(parsed: Optional[Tuple[int, int, Optional[int]]], want: Tuple[Optional[int], int]) -> str:
    """Why a Content-Range does not answer the range asked for ('' when it does)."""
    if parsed is None:
        return "missing or malformed"
    first, last, total = parsed
    offset, length = want
    if last < first or (total is not None and last >= total):
        return "inconsistent"
    if offset is None:  # suffix range: the last `length` bytes, or the whole file when smaller
        if total is None:
            return ""
        if first != max(0, total - length) or last != total - 1:
            return "not the tail asked for"
        return ""
    if first != offset:
        return "starts elsewhere"
    want_last = offset + length - 1
    if last != want_last and not (total is not None and last == total - 1 and last < want_last):
        return "ends elsewhere"
    return ""


def _copy_local(url: str, fileobj: IO[bytes], limit: int) -> int:
    path = url_to_path(url)
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise NetworkError(url, f"file larger than the cap of {limit} bytes")
        with open(path, "rb") as f:
            shutil.copyfileobj(f, fileobj, DEFAULT_CHUNK)
        return size
    except OSError as exc:
        raise NetworkError(url, exc.strerror or str(exc)) from None


def _charset(content_type: str) -> str:
    match = re.search(r"charset=([\w-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else "utf-8"


def _bounded_join(url: str, blocks: Iterator[bytes]) -> bytes:
    parts, size = [], 0
    for block in blocks:
        size += len(block)
        if size > MAX_PAGE:
            raise NetworkError(url, f"index page larger than {MAX_PAGE} bytes")
        parts.append(block)
    return b"".join(parts)


def _decode_content(url: str, data: bytes, encoding: str) -> bytes:
    """The body with its Content-Encoding undone, inflating at most :data:`MAX_PAGE` bytes (a gzip bomb of a
    page is refused, not inflated into memory)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    import zlib

    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise NetworkError(url, f"unsupported Content-Encoding {encoding!r}")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_PAGE + 1)
    except zlib.error as exc:
        raise NetworkError(url, f"corrupt {encoding} body: {exc}") from None
    if len(out) > MAX_PAGE:
        raise NetworkError(url, f"{encoding} body inflates past {MAX_PAGE} bytes (a decompression bomb?)")
    if not inflater.eof:
        raise NetworkError(url, f"corrupt {encoding} body: truncated stream")
    return out


_DEFAULT: Optional[HttpClient] = None
_DEFAULT_LOCK = threading.Lock()


def default_client() -> HttpClient:
    """The process-wide client used when a caller passes none (one session: connections are reused), with pip's
    ``cert`` and ``timeout`` settings when pip's configuration has them."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            from .errors import WheelmetaError
            from .index.config import IndexConfig

            try:
                _DEFAULT = IndexConfig.from_pip().http_client()
            except WheelmetaError as exc:  # an unreadable pip.conf must not stop a download that does not need it
                logger.warning("%s; connecting with default settings", exc)
                _DEFAULT = HttpClient()
        return _DEFAULT


class RangeSource:
    """A remote file as a :class:`~wheelmeta.sources.ByteSource`: reads become range requests, cached blocks
    are reused, and a server that cannot do ranges gets one whole download into a spooled temporary file.

    Creating it costs one request (the tail, see the module docstring). ``prefetch(offset, length)`` fetches a
    block the caller knows it will read piecewise (a member's local header and data) in one request.
    ``fell_back`` says whether the whole file was downloaded.
    """

    def __init__(
        self,
        url: str,
        client: Optional[HttpClient] = None,
        *,
        tail: int = TAIL_SIZE,
        max_download: Optional[int] = None,
    ) -> None:
        self.name = _strip_fragment(url)
        self._client = client or default_client()
        self._max_download = self._client.max_download if max_download is None else max_download
        self._blocks: Dict[int, bytes] = {}  # start offset -> bytes, non-overlapping
        self._spool: Optional[IO[bytes]] = None
        self._whole: Optional[FileObjectSource] = None  # the downloaded file, once ranges failed
        self.fell_back = False
        self.size = 0
        if not self._client.ranges_work(self.name):
            self._download_whole()
            return
        try:
            self.size, data = self._client.read_tail(self.name, tail)
        except RangeUnusable as exc:
            self._download_whole(exc)
            return
        self._blocks[self.size - len(data)] = data

    # -- the whole-file fallback -------------------------------------------------------------------------------------

    def _download_whole(self, exc: Optional[RangeUnusable] = None) -> None:
        response = exc.args[1] if exc is not None and len(exc.args) > 1 else None
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        try:
            self.size = self._client.download_to(self.name, spool, limit=self._max_download, response=response)
        except BaseException:
            spool.close()
            raise
        self._spool = spool
        self._whole = FileObjectSource(spool, self.name)
        self._blocks.clear()
        self.fell_back = True

    def whole_file_sha256(self) -> Optional[str]:
        """The sha256 of the file when it was downloaded whole (the fallback), else None: ranges prove nothing."""
        if self._spool is None:
            return None
        import hashlib

        digest = hashlib.sha256()
        for block in self._whole.stream(0, self.size):  # type: ignore[union-attr]
            digest.update(block)
        return digest.hexdigest()

    # -- the cache of fetched blocks ---------------------------------------------------------------------------------

    def _cached(self, offset: int, length: int) -> Optional[bytes]:
        for start, data in self._blocks.items():
            if start <= offset and offset + length <= start + len(data):
                return data[offset - start : offset - start + length]
        return None

    def _remember(self, offset: int, data: bytes) -> None:
        """Keep a fetched block; merge it with a cached block it touches (the tail grows backwards)."""
        for start, old in list(self._blocks.items()):
            if offset + len(data) == start:
                del self._blocks[start]
                data = data + old
            elif start + len(old) == offset:
                del self._blocks[start]
                offset, data = start, old + data
        self._blocks[offset] = data
        total = sum(len(b) for b in self._blocks.values())
        for start in list(self._blocks):
            if total <= CACHE_LIMIT:
                break
            if start + len(self._blocks[start]) != self.size:  # the tail (central directory) is kept
                total -= len(self._blocks.pop(start))

    def _missing_span(self, offset: int, length: int) -> Tuple[int, int]:
        """Shrink ``[offset, offset + length)`` by a cached block that covers its end (reads creep backwards)."""
        end = offset + length
        for start, data in self._blocks.items():
            if start <= end <= start + len(data) and start > offset:
                return offset, start - offset
        return offset, length

    def prefetch(self, offset: int, length: int) -> None:
        """Fetch ``[offset, offset + length)`` (clamped to the file) in one request unless already held."""
        offset = max(0, offset)
        length = max(0, min(length, self.size - offset))
        if self._spool is not None or length == 0 or self._cached(offset, length) is not None:
            return
        start, missing = self._missing_span(offset, length)
        try:
            data, _ = self._client.read_range(self.name, start, missing)
        except RangeUnusable as exc:
            self._download_whole(exc)
            return
        self._remember(start, data)

    def _fetch_for(self, offset: int, length: int) -> None:
        """Fetch what a missed read needs, plus what the next read will likely want, in one request.

        A read that runs into the cached tail is the central directory of a wheel with many files; bdist_wheel
        writes the ``.dist-info`` members (METADATA, then RECORD, about half the directory's size) right before it,
        so the bytes before are fetched too. Any other read fetches READ_AHEAD bytes forward.
        """
        tail_start = next((start for start, data in self._blocks.items() if start + len(data) == self.size), None)
        if tail_start is not None and offset < tail_start < offset + length:
            start = max(0, offset - (tail_start - offset) // 2 - READ_AHEAD)
            self.prefetch(start, tail_start - start)
        else:
            self.prefetch(offset, max(length, READ_AHEAD))

    # -- ByteSource ---------------------------------------------------------------------------------------------------

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise NetworkError(self.name, f"read at negative offset {offset} or length {length}")
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        if self._spool is None:
            data = self._cached(offset, length)
            if data is not None:
                return data
            self._fetch_for(offset, length)
            if self._spool is None:
                data = self._cached(offset, length)
                if data is not None:
                    return data
        return self._whole.read_at(offset, length)  # type: ignore[union-attr]

    def stream(self, offset: int, length: int, chunk: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return
        if self._spool is None:
            if length <= READ_AHEAD and self._cached(offset, length) is None:
                self.prefetch(offset, READ_AHEAD)  # a small member: fetch it with its neighbours, like read_at
            data = self._cached(offset, length) if self._spool is None else None
            if data is not None:
                for i in range(0, length, chunk):
                    yield data[i : i + chunk]
                return
        if self._spool is None:
            try:
                yield from self._client.stream_range(self.name, offset, length, chunk)
                return
            except RangeUnusable as exc:
                self._download_whole(exc)
        yield from self._whole.stream(offset, length, chunk)  # type: ignore[union-attr]

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
            self._whole = None
        self._blocks.clear()

    def __enter__(self) -> "RangeSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
