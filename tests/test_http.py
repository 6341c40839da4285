"""http.py against a real server on 127.0.0.1: range reads, their checks and fallbacks, retries, accounting."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from indexserver import IndexServer

from wheelmeta.errors import NetworkError
from wheelmeta.http import HttpClient, RangeSource, cache_lifetime, parse_content_range

BLOB = "blob-1.0.tar.gz"  # any file name the server serves under /files/
SIZE = 1_000_003


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("http")
    (root / BLOB).write_bytes(os.urandom(SIZE))
    return root


@pytest.fixture
def data(folder):
    return (folder / BLOB).read_bytes()


def _client() -> HttpClient:
    return HttpClient(timeout=10, retries=2, backoff=0.0)


def test_tail_read_costs_one_request_and_learns_the_size(folder, data):
    with IndexServer(folder) as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        assert src.size == SIZE
        assert client.requests == 1
        assert server.log == [(f"/files/{BLOB}", "bytes=-67584")]
        assert src.read_at(SIZE - 100, 100) == data[-100:]
        assert client.requests == 1  # served from the cached tail


def test_read_before_the_tail_costs_one_range_request(folder, data):
    with IndexServer(folder) as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        assert src.read_at(1000, 5000) == data[1000:6000]
        assert client.requests == 2
        assert src.read_at(2000, 10) == data[2000:2010]
        assert client.requests == 2


def test_read_that_runs_into_the_tail_fetches_up_to_it_and_some_bytes_before(folder, data):
    with IndexServer(folder) as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        tail_start = SIZE - 67584
        start = tail_start - 1000
        assert src.read_at(start, 2000) == data[start : start + 2000]
        first, last = map(int, server.log[-1][1][len("bytes="):].split("-"))
        assert first < start and last == tail_start - 1  # never the tail again
        assert src.read_at(first, 10) == data[first : first + 10] and client.requests == 2


def test_prefetched_block_serves_later_reads_without_requests(folder, data):
    with IndexServer(folder) as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        src.prefetch(100, 4096)
        before = client.requests
        assert src.read_at(100, 30) == data[100:130]
        assert b"".join(src.stream(130, 3000)) == data[130:3130]
        assert client.requests == before


def test_stream_is_one_ranged_request_of_exactly_the_bytes_asked(folder, data):
    with IndexServer(folder) as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        server.reset()
        client.reset_counters()
        got = b"".join(src.stream(10, 300_000, chunk=65536))
        assert got == data[10:300_010]
        assert server.log == [(f"/files/{BLOB}", "bytes=10-300009")]
        assert client.bytes_received == 300_000


def test_server_ignoring_ranges_costs_one_request_and_stays_right(folder, data):
    with IndexServer(folder, ranges="ignore") as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        assert src.fell_back and src.size == SIZE
        assert src.read_at(0, 10) == data[:10]
        assert b"".join(src.stream(5, 100)) == data[5:105]
        assert client.requests == 1  # the 200 answer to the range request was reused as the download
        assert not client.ranges_work(server.url + "/files/other")


def test_host_known_to_ignore_ranges_gets_no_range_request(folder, data):
    with IndexServer(folder, ranges="ignore") as server:
        client = _client()
        RangeSource(server.file_url(BLOB), client)
        server.reset()
        src = RangeSource(server.file_url(BLOB), client)
        assert src.read_at(SIZE - 5, 5) == data[-5:]
        assert server.log == [(f"/files/{BLOB}", None)]


def test_refused_ranges_fall_back_to_a_download(folder, data):
    with IndexServer(folder, ranges="refuse") as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        assert src.fell_back
        assert src.read_at(SIZE - 50, 50) == data[-50:]


def test_refused_suffix_range_uses_two_plain_ranges(folder, data):
    with IndexServer(folder, ranges="no-suffix") as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        assert not src.fell_back and src.size == SIZE
        assert [r for _, r in server.log] == ["bytes=-67584", "bytes=0-0", f"bytes={SIZE - 67584}-{SIZE - 1}"]
        assert src.read_at(SIZE - 7, 7) == data[-7:]
        server.reset()
        RangeSource(server.file_url(BLOB), client)
        assert [r for _, r in server.log] == ["bytes=0-0", f"bytes={SIZE - 67584}-{SIZE - 1}"]


def test_wrong_content_range_is_never_trusted(folder, data):
    with IndexServer(folder, ranges="wrong") as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        assert src.fell_back
        assert src.read_at(12345, 100) == data[12345:12445]
        assert not client.ranges_work(server.file_url(BLOB))


def test_wrong_content_range_in_a_stream_falls_back_before_yielding(folder, data):
    with IndexServer(folder) as server:
        client = _client()
        src = RangeSource(server.file_url(BLOB), client)
        server.ranges = "wrong"  # the server turns bad after the first read
        assert b"".join(src.stream(5000, 20000)) == data[5000:25000]
        assert src.fell_back


def test_small_file_tail_is_the_whole_file(tmp_path):
    (tmp_path / "tiny-1.0.tar.gz").write_bytes(b"0123456789")
    with IndexServer(tmp_path) as server:
        src = RangeSource(server.file_url("tiny-1.0.tar.gz"), _client())
        assert src.size == 10
        assert src.read_at(0, 100) == b"0123456789"


def test_retries_on_503_then_succeeds(folder, data):
    with IndexServer(folder) as server:
        server.fail_next = [503, 429]
        client = _client()
        assert client.get_bytes(server.file_url(BLOB)) == data
        assert client.requests == 3


def test_retries_are_bounded_and_the_error_names_the_url(folder):
    with IndexServer(folder) as server:
        server.fail_next = [503] * 10
        client = _client()
        with pytest.raises(NetworkError, match="/files/blob-1.0.tar.gz: HTTP 503"):
            client.get_bytes(server.file_url(BLOB))
        assert client.requests == 3


def test_connection_dying_mid_body_is_a_network_error(folder):
    with IndexServer(folder, truncate=True) as server:
        with pytest.raises(NetworkError, match="blob-1.0.tar.gz"):
            _client().get_bytes(server.file_url(BLOB))
        with pytest.raises(NetworkError, match="blob-1.0.tar.gz"):
            RangeSource(server.file_url(BLOB), _client()).read_at(0, 10)


def test_download_cap_is_a_network_error(folder):
    with IndexServer(folder) as server:
        with pytest.raises(NetworkError, match="larger than the cap"):
            _client().get_bytes(server.file_url(BLOB), limit=1000)


def test_the_rate_limit_spaces_requests_to_one_host_and_leaves_other_hosts_alone(monkeypatch):
    import wheelmeta.http as http

    slept = []
    monkeypatch.setattr(http.time, "monotonic", lambda: 100.0)  # a clock that stands still: every wait is booked
    monkeypatch.setattr(http.time, "sleep", slept.append)
    limit = http.HostRateLimit(per_second=50)
    for url in ("http://a.test/1", "http://a.test/2", "http://b.test/1", "http://a.test/3"):
        limit.wait(url)
    assert slept == pytest.approx([0.02, 0.04])  # a.test's 2nd and 3rd request; b.test's first goes at once


def test_a_client_with_a_rate_limit_asks_it_before_every_request_retries_included(folder):
    asked = []

    class Recording:
        def wait(self, url: str) -> None:
            asked.append(url)

    with IndexServer(folder) as server:
        server.fail_next = [503]
        client = HttpClient(timeout=10, retries=2, backoff=0.0, rate_limit=Recording())
        client.get_bytes(server.file_url(BLOB))
    assert asked == [server.file_url(BLOB)] * 2


def test_counters_count_body_bytes(folder):
    with IndexServer(folder) as server:
        client = _client()
        client.get_bytes(server.file_url(BLOB))
        assert client.bytes_received == SIZE


def test_missing_index_page_is_none(folder):
    with IndexServer(folder) as server:
        assert _client().get_page(server.index_url + "/nothing/", accept="text/html") is None


def test_file_url_folder_reads_its_index_html(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "index.html").write_text("<a href='x'>x</a>")
    page = _client().get_page((tmp_path / "demo").as_uri(), accept="text/html")
    assert page is not None and "href='x'" in page.text


@pytest.mark.parametrize(
    "header, parsed",
    [("bytes 0-99/1000", (0, 99, 1000)), ("bytes 5-9/*", (5, 9, None)), ("bytes */1000", None), (None, None)],
)
def test_parse_content_range(header, parsed):
    assert parse_content_range(header) == parsed


def test_gzip_page_that_inflates_past_the_page_cap_is_a_network_error(tmp_path):
    from wheelmeta.http import MAX_PAGE

    (tmp_path / "demo-1.0-py3-none-any.whl").write_bytes(b"PK")
    bomb = {"demo-1.0-py3-none-any.whl": ">=3" + " " * (MAX_PAGE + 1)}  # ~64 MiB of spaces: ~64 KiB gzipped
    with IndexServer(tmp_path, fmt="html", gzip_pages=True, requires_python=bomb) as server:
        with pytest.raises(NetworkError, match="inflates past") as info:
            _client().get_page(server.index_url + "/demo/", accept="text/html")
    assert "/simple/demo/" in str(info.value)


@pytest.mark.parametrize("headers, lifetime", [
    ({"Cache-Control": "max-age=600, public"}, 600),
    ({"Cache-Control": "public, max-age=600", "Age": "100"}, 500),
    ({"Cache-Control": "max-age=600", "Age": "700"}, None),
    ({"Cache-Control": "max-age=600, no-cache"}, None),
    ({"Cache-Control": "no-store"}, None),
    ({"Cache-Control": "max-age=soon"}, None),
    ({}, None),
])
def test_a_page_is_fresh_for_its_max_age_less_its_age(headers, lifetime):
    assert cache_lifetime(headers) == lifetime


def test_a_local_page_is_confirmed_by_its_modification_time_and_size_without_reading_it(tmp_path):
    page_file = tmp_path / "simple" / "demo" / "index.html"
    page_file.parent.mkdir(parents=True)
    page_file.write_text("<a href='demo-1.0.tar.gz'>demo-1.0.tar.gz</a>")
    client = HttpClient()
    url = page_file.parent.as_uri() + "/"
    first = client.get_page(url, accept="text/html")
    again = client.get_page(url, accept="text/html", validators={"etag": first.etag})
    assert again.not_modified and again.text == ""
    page_file.write_text("<a href='demo-2.0.tar.gz'>demo-2.0.tar.gz</a><a href='demo-1.0.tar.gz'>demo-1.0.tar.gz</a>")
    changed = client.get_page(url, accept="text/html", validators={"etag": first.etag})
    assert not changed.not_modified and "demo-2.0" in changed.text and client.requests == 0


# -- TLS: connections of one client share the CA bundle loaded once ---------------------------------------------------


class _SlowPages(BaseHTTPRequestHandler):
    """Answers every GET with a small page after a pause, so that concurrent requests need connections of their own."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        time.sleep(0.2)
        body = b"<html></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """An HTTPS server on 127.0.0.1 with a certificate made by openssl for this test; (base URL, its CA file). The
    machine's CA bundle variables are cleared: requests would let them override the client's own bundle."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (needed to make the test server's certificate)")
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowPages)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def test_tls_connections_of_one_client_share_the_ca_bundle_loaded_for_the_first(tls_server, tmp_path):
    url, cert = tls_server
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(cert.read_bytes())
    client = HttpClient(verify=str(bundle), retries=0)
    assert client.get_page(url + "/first/", accept="text/html") is not None
    bundle.write_text("not a certificate\n")  # a connection that loaded the bundle again would fail now
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(pool.map(lambda n: client.get_page(f"{url}/p{n}/", accept="text/html"), range(4)))
    assert all(page is not None and page.text == "<html></html>" for page in pages)


def test_tls_server_certificates_are_still_verified(tls_server, tmp_path):
    url, _ = tls_server
    with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        HttpClient(retries=0).get_page(url + "/page/", accept="text/html")  # the default bundle does not know it


@pytest.mark.parametrize("url", ["file:///opt/pypi/simple/numpy/", "file:///tmp/a%20b/c.whl", "file:///tmp/%C3%A9t%C3%A9/",
                                 "file://localhost/srv/simple/", "file:////server/share/x.whl", "file:///"])
def test_url_to_path_gives_what_url2pathname_gives(url):
    import urllib.parse
    from urllib.request import url2pathname

    from wheelmeta.http import url_to_path

    assert url_to_path(url) == url2pathname(urllib.parse.urlsplit(url).path)
