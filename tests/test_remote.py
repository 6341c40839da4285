"""extract/remote.py against a real server on 127.0.0.1: what reading a remote wheel's metadata costs, and that the
answer is right whatever the server does with ranges."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from builders import make_sdist, make_wheel, metadata_text
from indexserver import IndexServer

from wheelmeta.errors import NetworkError
from wheelmeta.extract.remote import read_dist_file_metadata, read_remote_metadata
from wheelmeta.http import HttpClient, RangeSource
from wheelmeta.index.simple import IndexClient

BIG = 100 * 1024 * 1024
REQUIRES = ["numpy>=1.16", "requests[socks]; extra == 'http'"]
BIG_WHEEL = "big-1.0-cp37-cp37m-manylinux2010_x86_64.whl"
SMALL_WHEEL = "small-2.0-py3-none-any.whl"


def _write_wheel(path: Path, name: str, version: str, payload_size: int, metadata_first: bool) -> None:
    """A wheel with one big stored member of zeros, written in 1 MiB steps (disk, not memory).

    ``metadata_first`` puts ``.dist-info/METADATA`` before the payload, so it lies outside the tail read: the worst
    case for range reads. bdist_wheel writes ``.dist-info`` last, inside the tail.
    """
    dist_info = f"{name}-{version}.dist-info"
    metadata = metadata_text(name, version, REQUIRES, extras=["http"]).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if metadata_first:
            zf.writestr(f"{dist_info}/METADATA", metadata)
        info = zipfile.ZipInfo(f"{name}/payload.bin")
        info.compress_type = zipfile.ZIP_STORED
        with zf.open(info, "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(payload_size // len(block)):
                member.write(block)
        if not metadata_first:
            zf.writestr(f"{dist_info}/METADATA", metadata)
        zf.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp37-cp37m-manylinux2010_x86_64\n")
        zf.writestr(f"{dist_info}/RECORD", "")


@pytest.fixture(scope="session")
def wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote")
    _write_wheel(folder / BIG_WHEEL, "big", "1.0", BIG, metadata_first=True)
    make_wheel(folder, "small", "2.0", requires=REQUIRES, extras=["http"],
               files={"small/data.bin": bytes(range(256)) * 8000})  # ~2 MB, METADATA last as bdist_wheel does
    return folder


def _client() -> HttpClient:
    return HttpClient(timeout=10, retries=1, backoff=0.0)


def _assert_right(md, name: str, version: str) -> None:
    assert (md.name, md.version) == (name, version)
    assert [str(r) for r in md.requires_dist] == ['numpy>=1.16', 'requests[socks]; extra == "http"']


# -- PEP 658 -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "json"])
@pytest.mark.parametrize("key", ["data-core-metadata", "data-dist-info-metadata"])
def test_pep658_metadata_costs_exactly_one_request(wheels, fmt, key):
    with IndexServer(wheels, fmt=fmt, pep658=True, metadata_key=key) as server:
        client = _client()
        (dist,) = IndexClient([server.index_url], client=client).files("big")
        assert dist.core_metadata  # the page announced it, with its hash
        client.reset_counters()
        md = read_dist_file_metadata(dist, client=client)
        assert client.requests == 1
        assert md.provenance == "pep658"
        _assert_right(md, "big", "1.0")


def test_pep658_file_that_fails_its_hash_is_not_believed(wheels):
    with IndexServer(wheels, pep658=True, bad_metadata_hash=True) as server:
        client = _client()
        (dist,) = IndexClient([server.index_url], client=client).files("small")
        md = read_dist_file_metadata(dist, client=client)
        assert md.provenance == "wheel-metadata"
        _assert_right(md, "small", "2.0")


# -- range reads -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_100mb_wheel_costs_at_most_two_requests_and_128_kib_without_pep658(wheels, fmt):
    with IndexServer(wheels, fmt=fmt, pep658=False) as server:
        client = _client()
        (dist,) = IndexClient([server.index_url], client=client).files("big")
        assert dist.core_metadata is None
        client.reset_counters()
        md = read_dist_file_metadata(dist, client=client)
        assert client.requests <= 2
        assert client.bytes_received <= 128 * 1024
        assert md.provenance == "wheel-metadata"
        _assert_right(md, "big", "1.0")


def test_metadata_inside_the_tail_costs_one_request(wheels):
    with IndexServer(wheels) as server:
        client = _client()
        md = read_remote_metadata(server.file_url(SMALL_WHEEL), client=client)
        assert client.requests == 1
        _assert_right(md, "small", "2.0")


@pytest.mark.parametrize("wheel, name, version", [(BIG_WHEEL, "big", "1.0"), (SMALL_WHEEL, "small", "2.0")])
@pytest.mark.parametrize("ranges", ["ignore", "refuse", "no-suffix", "wrong"])
def test_answer_is_right_whatever_the_server_does_with_ranges(wheels, ranges, wheel, name, version):
    with IndexServer(wheels, ranges=ranges) as server:
        md = read_remote_metadata(server.file_url(wheel), client=_client())
        _assert_right(md, name, version)


def test_200_whole_body_answer_on_a_100mb_wheel_is_used_not_refetched(wheels):
    with IndexServer(wheels, ranges="ignore") as server:
        client = _client()
        md = read_remote_metadata(server.file_url(BIG_WHEEL), client=client)
        assert client.requests == 1
        _assert_right(md, "big", "1.0")


def test_downloaded_wheel_is_checked_against_its_hash(wheels):
    with IndexServer(wheels, ranges="ignore") as server:
        with pytest.raises(NetworkError, match="sha256 .* does not match"):
            read_remote_metadata(server.file_url(SMALL_WHEEL) + "#sha256=" + "0" * 64, client=_client())


def test_one_member_of_a_remote_wheel_costs_only_its_bytes(wheels):
    from wheelmeta.wheels.zipdir import ZipDirectory

    with IndexServer(wheels) as server:
        client = _client()
        source = RangeSource(server.file_url(BIG_WHEEL), client)
        directory = ZipDirectory.read(source)
        entry = directory.find("big-1.0.dist-info/WHEEL")
        assert b"Tag: cp37" in directory.read_member(entry, limit=1 << 20)
        assert client.bytes_received < 100 * 1024  # the payload was never fetched


def test_public_read_metadata_dispatches_urls_here(wheels):
    import wheelmeta

    with IndexServer(wheels) as server:
        _assert_right(wheelmeta.read_metadata(server.file_url(SMALL_WHEEL)), "small", "2.0")


def test_missing_file_is_a_network_error_naming_the_url(wheels):
    with IndexServer(wheels) as server:
        url = server.file_url("gone-1.0-py3-none-any.whl")
        with pytest.raises(NetworkError, match="gone-1.0-py3-none-any.whl: HTTP 404"):
            read_remote_metadata(url, client=_client())


# -- sdists -----------------------------------------------------------------------------------------------------------


def _write_sdist(folder: Path) -> Path:
    pkg_info = metadata_text("tiny", "0.3", ["attrs>=20"], metadata_version="2.2")
    return make_sdist(folder, "tiny", "0.3", files={"PKG-INFO": pkg_info})


def test_sdist_url_with_a_wrong_hash_is_refused_before_it_is_read(tmp_path):
    _write_sdist(tmp_path)
    with IndexServer(tmp_path) as server:
        with pytest.raises(NetworkError, match="does not match"):
            read_remote_metadata(server.file_url("tiny-0.3.tar.gz"), client=_client(), expected_sha256="0" * 64)


def test_sdist_url_goes_through_the_sdist_chain(tmp_path):
    path = _write_sdist(tmp_path)
    with IndexServer(tmp_path) as server:
        url = server.file_url("tiny-0.3.tar.gz")
        md = read_remote_metadata(url, client=_client(), expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        assert (md.name, md.version, md.source) == ("tiny", "0.3", url)
        assert [str(r) for r in md.requires_dist] == ["attrs>=20"]


def test_small_members_of_a_remote_wheel_share_requests(tmp_path):
    import os

    from wheelmeta.wheels.zipdir import ZipDirectory

    files = {f"many/m{i:03}.bin": os.urandom(2000) for i in range(300)}  # ~600 KB that does not compress
    make_wheel(tmp_path, "many", "1.0", files=files)
    with IndexServer(tmp_path) as server:
        client = _client()
        source = RangeSource(server.file_url("many-1.0-py3-none-any.whl"), client)
        directory = ZipDirectory.read(source)
        for name, data in files.items():  # the ELF probe of `wheelmeta scan URL` reads every candidate member
            assert directory.read_member(directory.find(name), limit=4096) == data
        assert client.requests <= 20  # read-ahead: not 2 requests per member


def test_audit_of_a_remote_wheel_fetches_only_what_the_elf_members_need(tmp_path):
    import os

    from elfbuild import compile_so

    import wheelmeta
    from wheelmeta.http import default_client

    lib = compile_so(tmp_path / "build", "_ext.so", "#include <math.h>\ndouble f(double x){return sin(x);}", libs=["m"])
    payload = os.urandom(8 * 1024 * 1024)  # a big member that is not ELF: only its first bytes may be read
    make_wheel(tmp_path / "index", "native", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64",
               files={"native/_ext.so": lib.read_bytes(), "native/payload.bin": payload})
    with IndexServer(tmp_path / "index") as server:
        client = default_client()  # what audit_wheel(URL) uses
        client.reset_counters()
        audit = wheelmeta.audit_wheel(server.file_url("native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"))
        assert [e.path for e in audit.elf_files] == ["native/_ext.so"]
        assert "libm.so.6" in audit.elf_files[0].needed
        assert client.bytes_received < 1024 * 1024


def test_scanning_a_remote_wheel_reuses_one_connection(tmp_path):
    """The ELF probe of each member was a stream stopped after a few bytes, which closed its connection: every
    member cost a new TCP and TLS connection and a name lookup (against a real index, a lock of 130 packages spent
    most of its 40 s in 5 s resolver timeouts). Probes are bounded reads now, and a stream stopped near its end is
    read to the end, so one connection serves the whole scan."""
    import random

    from elfbuild import compile_so

    from wheelmeta.manylinux.audit import audit_source

    lib = compile_so(tmp_path / "build", "_ext.so", "#include <math.h>\ndouble f(double x){return sin(x);}", libs=["m"])
    noise = random.Random(7)
    # each member more than the read-ahead, so each is fetched by requests of its own; trailing bytes do not change
    # what the ELF headers say
    files = {f"native/_ext{i}.so": lib.read_bytes() + noise.randbytes(100_000) for i in range(8)}
    make_wheel(tmp_path / "index", "native", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", files=files)
    with IndexServer(tmp_path / "index") as server:
        client = _client()
        with RangeSource(server.file_url("native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"), client) as source:
            audit = audit_source(source, workers=1)
        assert sorted(e.path for e in audit.elf_files) == sorted(files)
        assert all("libm.so.6" in e.needed for e in audit.elf_files)
        assert client.requests > 8 and server.connections == 1


def test_wheel_whose_central_directory_outgrows_the_tail_still_costs_two_requests(tmp_path):
    files = {f"wide/{'deep/' * 8}module_{i:05}.py": b"x = 1\n" for i in range(2000)}  # ~180 KB of directory
    make_wheel(tmp_path, "wide", "1.0", requires=REQUIRES, extras=["http"], files=files)
    with IndexServer(tmp_path) as server:
        client = _client()
        md = read_remote_metadata(server.file_url("wide-1.0-py3-none-any.whl"), client=client)
        _assert_right(md, "wide", "1.0")
        assert client.requests == 2  # the tail, then the rest of the directory with METADATA and RECORD before it
