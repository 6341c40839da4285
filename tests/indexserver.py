"""A real package index for tests: a threaded HTTP server on 127.0.0.1 that serves files from a folder.

It speaks the simple API in both forms (PEP 503 HTML and PEP 691 JSON, chosen by the Accept header or forced),
optionally serves PEP 658 ``.metadata`` files, and misbehaves on request in the ways real servers do:

* ``ranges="ok"``: honours ``bytes=a-b``, ``bytes=a-`` and suffix ranges ``bytes=-N`` with a correct Content-Range;
* ``ranges="ignore"``: answers every range with 200 and the whole body (a server without Range support);
* ``ranges="refuse"``: answers every range with 416;
* ``ranges="no-suffix"``: honours ``bytes=a-b`` but answers 416 to suffix ranges;
* ``ranges="wrong"``: answers 206 with a Content-Range and body for another range than the one asked for.

It counts requests and body bytes sent, per path too, so tests can assert what a read cost::

    with IndexServer(folder, ranges="ok") as server:
        read_remote_metadata(server.file_url("big-1.0-py3-none-any.whl"))
        assert server.requests == 2
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _project_of(filename: str) -> Optional[str]:
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        return canonicalize_name(parse_sdist_filename(filename)[0])
    except Exception:
        return None


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
                return zf.read(name)
    raise ValueError(f"{path}: no METADATA")


class _QuietServer(ThreadingHTTPServer):
    """Clients that stop reading mid-body (streamed reads do) reset the connection: not worth a traceback.

    Connections are kept alive (HTTP/1.1), so a client's pooled connection keeps its handler thread waiting for the
    next request; ``close_connections`` ends them when the server stops, so no thread outlives a test (one that did
    would, e.g., stop the audit from forking workers in a later test).
    """

    connections = 0  # connections accepted: what a test of connection reuse counts

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._open: set = set()

    def process_request(self, request, client_address) -> None:
        self.connections += 1
        self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        import socket

        for request in list(self._open):
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class IndexServer:
    """Serve ``folder`` as ``/simple/<project>/`` pages, ``/files/<filename>`` and ``/links/`` (a find-links page).

    ``fmt``: "auto" (by Accept), "html" or "json". ``pep658``: offer and serve ``.metadata`` files for wheels
    (``metadata_key`` picks the attribute spelling: "data-core-metadata" or the older "data-dist-info-metadata").
    ``truncate`` sends half of each file body (with the full Content-Length) and hangs up.
    ``etags`` sends an ``ETag`` with each project page and answers 304 to a matching ``If-None-Match``.
    ``max_age`` sends ``Cache-Control: max-age=<seconds>`` with each project page (200 and 304), as the default index
    does for its simple pages.
    ``gzip_pages`` compresses project pages when the client accepts it, as real indexes do.
    ``yanked`` / ``requires_python`` map filenames to a reason / a specifier. ``bad_metadata_hash`` serves a
    ``.metadata`` file whose bytes do not match the hash the page announces.
    """

    def __init__(
        self,
        folder: Path,
        *,
        ranges: str = "ok",
        fmt: str = "auto",
        pep658: bool = False,
        metadata_key: str = "data-core-metadata",
        yanked: Optional[Dict[str, str]] = None,
        requires_python: Optional[Dict[str, str]] = None,
        bad_metadata_hash: bool = False,
        hashes: bool = True,
        gzip_pages: bool = False,
        truncate: bool = False,
        etags: bool = False,
        failing_pages: Optional[Dict[str, int]] = None,
        slow_pages: Optional[Dict[str, float]] = None,
        upload_times: Optional[Dict[str, str]] = None,
        max_age: Optional[int] = None,
    ) -> None:
        self.folder = Path(folder)
        self.ranges = ranges
        self.fmt = fmt
        self.pep658 = pep658
        self.metadata_key = metadata_key
        self.yanked = dict(yanked or {})
        self.requires_python = dict(requires_python or {})
        self.bad_metadata_hash = bad_metadata_hash
        self.hashes = hashes
        self.gzip_pages = gzip_pages
        self.truncate = truncate
        self.etags = etags
        self.failing_pages = dict(failing_pages or {})
        self.slow_pages = dict(slow_pages or {})
        self.upload_times = dict(upload_times or {})
        self.failing_files: Dict[str, int] = {}  # file name (or its .metadata) -> status, changed by tests at will
        self.not_modified = 0
        self.max_age = max_age
        self.requests = 0
        self.bytes_sent = 0
        self.by_path: Counter = Counter()
        self.log: List[Tuple[str, Optional[str]]] = []  # (path, Range header)
        self.fail_next: List[int] = []  # statuses to answer before serving normally (retry tests)
        self._lock = threading.Lock()
        self._sha_cache: Dict[str, str] = {}
        self._projects: Dict[str, List[str]] = {}
        self._projects_stamp: Optional[Tuple[int, int]] = None
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (each request of a kept-alive connection counts in ``requests`` only)."""
        return self._httpd.connections

    def __enter__(self) -> "IndexServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def index_url(self) -> str:
        return f"{self.url}/simple"

    def file_url(self, filename: str) -> str:
        return f"{self.url}/files/{filename}"

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.bytes_sent = 0
            self.by_path.clear()
            self.log.clear()
            self.not_modified = 0

    # -- content -----------------------------------------------------------------------------------------------------

    def sha256(self, filename: str) -> str:
        if filename not in self._sha_cache:
            self._sha_cache[filename] = _sha256_file(self.folder / filename)
        return self._sha_cache[filename]

    def files_of(self, project: str) -> List[str]:
        """The folder's files of ``project``, from a map of the folder rebuilt whenever the folder changes (a page
        must not cost a walk of a mirror's thousands of files)."""
        stamp = (self.folder.stat().st_mtime_ns, len(os.listdir(self.folder)))  # coarse clocks: count entries too
        with self._lock:
            if self._projects_stamp != stamp:
                projects: Dict[str, List[str]] = {}
                for path in sorted(self.folder.iterdir()):
                    if path.is_file():
                        projects.setdefault(_project_of(path.name) or "", []).append(path.name)
                self._projects, self._projects_stamp = projects, stamp
            return list(self._projects.get(canonicalize_name(project), ()))

    def _metadata_hash(self, filename: str) -> str:
        return hashlib.sha256(_wheel_metadata(self.folder / filename)).hexdigest()

    def project_html(self, project: str) -> str:
        links = []
        for name in self.files_of(project):
            attrs = [f'href="../../files/{name}' + (f'#sha256={self.sha256(name)}"' if self.hashes else '"')]
            if name in self.requires_python:
                attrs.append(f'data-requires-python="{html.escape(self.requires_python[name])}"')
            if name in self.yanked:
                attrs.append(f'data-yanked="{html.escape(self.yanked[name])}"')
            if self.pep658 and name.endswith(".whl"):
                attrs.append(f'{self.metadata_key}="sha256={self._metadata_hash(name)}"')
            links.append(f"<a {' '.join(attrs)}>{name}</a><br/>")
        return "<!DOCTYPE html><html><body><h1>Links</h1>\n" + "\n".join(links) + "\n</body></html>\n"

    def project_json(self, project: str) -> str:
        files = []
        for name in self.files_of(project):
            entry: dict = {
                "filename": name,
                "url": f"../../files/{name}",
                "hashes": {"sha256": self.sha256(name)} if self.hashes else {},
                "size": (self.folder / name).stat().st_size,
            }
            if name in self.requires_python:
                entry["requires-python"] = self.requires_python[name]
            if name in self.yanked:
                entry["yanked"] = self.yanked[name] or True
            if name in self.upload_times:
                entry["upload-time"] = self.upload_times[name]
            if self.pep658 and name.endswith(".whl"):
                key = "core-metadata" if self.metadata_key == "data-core-metadata" else "dist-info-metadata"
                entry[key] = {"sha256": self._metadata_hash(name)}
            files.append(entry)
        return json.dumps({"meta": {"api-version": "1.1"}, "name": canonicalize_name(project), "files": files})

    def links_html(self) -> str:
        names = sorted(p.name for p in self.folder.iterdir() if p.is_file())
        return "<html><body>" + "".join(f'<a href="/files/{n}">{n}</a>\n' for n in names) + "</body></html>"

    # -- the handler -------------------------------------------------------------------------------------------------

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with server._lock:
                    server.requests += 1
                    server.by_path[self.path] += 1
                    server.log.append((self.path, self.headers.get("Range")))
                    fail = server.fail_next.pop(0) if server.fail_next else None
                if fail is not None:
                    return self._send(fail, b"try again", "text/plain")
                try:
                    self._route()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: that is what streamed reads do

            def _route(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/simple/":
                    return self._root()
                if path.startswith("/simple/"):
                    return self._simple(path[len("/simple/") :].strip("/"))
                if path == "/links/":
                    return self._send(200, server.links_html().encode(), HTML_TYPE)
                if path.startswith("/files/"):
                    return self._file(path[len("/files/") :])
                return self._send(404, b"not found", "text/plain")

            def _root(self) -> None:
                """The project list (PEP 691 JSON or PEP 503 HTML, as for project pages)."""
                names = sorted({_project_of(p.name) for p in server.folder.iterdir() if p.is_file()} - {None})
                use_json = server.fmt == "json" or (server.fmt == "auto" and JSON_TYPE in self.headers.get("Accept", ""))
                if use_json:
                    body = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
                    return self._send(200, body.encode(), JSON_TYPE)
                links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
                return self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html; charset=utf-8")

            def _simple(self, project: str) -> None:
                if project != canonicalize_name(project) or not server.files_of(project):
                    return self._send(404, b"no such project", "text/plain")
                if project in server.failing_pages:
                    return self._send(server.failing_pages[project], b"broken", "text/plain")
                if project in server.slow_pages:
                    import time

                    time.sleep(server.slow_pages[project])
                accept = self.headers.get("Accept", "")
                use_json = server.fmt == "json" or (server.fmt == "auto" and JSON_TYPE in accept)
                body = (server.project_json(project) if use_json else server.project_html(project)).encode()
                ctype = JSON_TYPE if use_json else "text/html; charset=utf-8"
                headers = {} if server.max_age is None else {"Cache-Control": f"max-age={server.max_age}, public"}
                if server.etags:
                    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        with server._lock:
                            server.not_modified += 1
                        return self._send(304, b"", ctype, {**headers, "ETag": etag})
                    return self._send(200, body, ctype, {**headers, "ETag": etag})
                if server.gzip_pages and "gzip" in self.headers.get("Accept-Encoding", ""):
                    import gzip

                    return self._send(200, gzip.compress(body), ctype, {**headers, "Content-Encoding": "gzip"})
                return self._send(200, body, ctype, headers)

            def _file(self, name: str) -> None:
                if name in server.failing_files:
                    return self._send(server.failing_files[name], b"broken", "text/plain")
                if name.endswith(".metadata") and server.pep658:
                    wheel = name[: -len(".metadata")]
                    if (server.folder / wheel).is_file():
                        data = _wheel_metadata(server.folder / wheel)
                        if server.bad_metadata_hash:
                            data += b"Requires-Dist: injected\n"
                        return self._send(200, data, "application/octet-stream")
                target = server.folder / name
                if "/" in name or not target.is_file():
                    return self._send(404, b"not found", "text/plain")
                self._serve_file(target)

            def _serve_file(self, target: Path) -> None:
                size = target.stat().st_size
                header = self.headers.get("Range")
                if header is None or server.ranges == "ignore":
                    return self._send_file(200, target, 0, size, size)
                if server.ranges == "refuse":
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                parsed = _parse_range(header, size)
                if parsed is None:
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                first, last, suffix = parsed
                if suffix and server.ranges == "no-suffix":
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                if server.ranges == "wrong":
                    # a broken proxy: another window than the one asked for, labelled as such
                    first = max(0, first - 100)
                    last = max(first, last - 100)
                self._send_file(206, target, first, last - first + 1, size)

            def _send_file(self, status: int, target: Path, offset: int, length: int, size: int) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                if server.ranges in ("ok", "no-suffix", "wrong"):
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {offset}-{offset + length - 1}/{size}")
                self.end_headers()
                with open(target, "rb") as f:
                    f.seek(offset)
                    left = length // 2 if server.truncate else length  # then hang up: a connection that dies
                    while left:
                        block = f.read(min(CHUNK, left))
                        if not block:
                            break
                        self.wfile.write(block)
                        with server._lock:
                            server.bytes_sent += len(block)
                        left -= len(block)
                if server.truncate:
                    self.close_connection = True

            def _send(self, status: int, body: bytes, ctype: str, headers: Optional[dict] = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                with server._lock:
                    server.bytes_sent += len(body)

        return Handler


def _parse_range(header: str, size: int) -> Optional[Tuple[int, int, bool]]:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> (first, last, is_suffix), clamped; None if unsatisfiable."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first_s, last_s = match.groups()
    if first_s == "":
        n = int(last_s)
        if n == 0:
            return None
        return max(0, size - n), size - 1, True
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first >= size or last < first:
        return None
    return first, last, False
