"""extract: read_metadata and audit_wheel dispatch, and the acceptance list of bad wheels end to end.

Every bad input gives one WheelmetaError line naming the file (the CLI prints it and exits 1) or a result with
``problems``; never a traceback.
"""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile

import pytest
from builders import make_sdist, make_wheel, metadata_text, patch_central, to_zip64, zip_bytes

import wheelmeta
from wheelmeta import cli
from wheelmeta.errors import InvalidArchive, UsageError, WheelmetaError
from wheelmeta.extract import audit_wheel, read_metadata
from wheelmeta.sources import BytesSource

# -- the acceptance list: one bad wheel each -------------------------------------------------------------------


def _truncated(tmp_path):
    data = make_wheel(tmp_path / "src", files={"demo/big.py": bytes(range(256)) * 200}).read_bytes()
    return data[: len(data) * 2 // 3], r"not a zip file|truncated"


def _not_a_zip(tmp_path):
    return b"<html>404 not found</html>\n" * 20, r"not a zip file"


def _no_dist_info(tmp_path):
    return zip_bytes({"demo/__init__.py": b"", "demo-1.0.data/purelib/x.py": b""}), r"no \.dist-info folder"


def _two_dist_info(tmp_path):
    md = metadata_text("demo", "1.0").encode()
    members = {"demo-1.0.dist-info/METADATA": md, "demo-1.1.dist-info/METADATA": md}
    return zip_bytes(members), r"more than one \.dist-info folder: demo-1.0.dist-info, demo-1.1.dist-info"


def _bomb(tmp_path):
    data = zip_bytes({"demo-1.0.dist-info/METADATA": metadata_text("demo", "1.0").encode() + b" " * (32 << 20)})
    return patch_central(data, "demo-1.0.dist-info/METADATA", usize=200), r"METADATA: inflates beyond its declared size"


def _overlap(tmp_path):
    members = {"demo-1.0.dist-info/METADATA": metadata_text("demo", "1.0").encode(), "demo-1.0.dist-info/WHEEL": b"x"}
    data = zip_bytes(members, compression=zipfile.ZIP_STORED)
    # METADATA claims 40 more bytes: its data now covers WHEEL's local header
    size = len(members["demo-1.0.dist-info/METADATA"]) + 40
    return patch_central(data, "demo-1.0.dist-info/METADATA", csize=size, usize=size), r"overlapping entries"


BAD_WHEELS = {
    "truncated": _truncated,
    "not-a-zip": _not_a_zip,
    "no-dist-info": _no_dist_info,
    "two-dist-info": _two_dist_info,
    "bomb": _bomb,
    "overlapping": _overlap,
}


@pytest.mark.parametrize("kind", sorted(BAD_WHEELS))
def test_a_bad_wheel_is_one_clear_error_naming_the_file(tmp_path, kind):
    data, reason = BAD_WHEELS[kind](tmp_path)
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(data)
    with pytest.raises(WheelmetaError, match=f"^{path}: .*({reason})") as info:
        read_metadata(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", sorted(BAD_WHEELS))
def test_the_cli_prints_one_line_and_exits_1_for_a_bad_wheel(tmp_path, capsys, kind):
    data, _ = BAD_WHEELS[kind](tmp_path)
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(data)
    assert cli.main(["metadata", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_metadata_not_utf8_gives_a_result_with_a_problem(tmp_path):
    text = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nAuthor: Jos\xe9\nRequires-Dist: six\n"
    path = make_wheel(tmp_path, "demo", "1.0", metadata=text.encode("latin-1"))
    md = read_metadata(path)
    assert [str(r) for r in md.requires_dist] == ["six"]
    assert md.problems == (f"metadata is not valid UTF-8 (byte {text.index(chr(0xE9))}); decoded as latin-1",)


def test_a_zip64_wheel_reads_like_the_plain_one(tmp_path):
    plain = make_wheel(tmp_path / "plain", "demo", "1.0", requires=["idna>=3"], requires_python=">=3.8")
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(to_zip64(plain.read_bytes()))
    assert read_metadata(path).to_json() | {"file": ""} == read_metadata(plain).to_json() | {"file": ""}


# -- dispatch ----------------------------------------------------------------------------------------------------


def test_read_metadata_is_the_public_entry_point(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", requires=["six"])
    assert wheelmeta.read_metadata is read_metadata
    assert [str(r) for r in wheelmeta.read_metadata(str(path)).requires_dist] == ["six"]


def test_read_metadata_takes_a_byte_source(tmp_path):
    data = make_wheel(tmp_path, "demo", "2.0").read_bytes()
    assert read_metadata(BytesSource(data, "demo-2.0-py3-none-any.whl")).version == "2.0"


def test_read_metadata_sends_sdists_to_the_sdist_chain(tmp_path):
    pkg_info = metadata_text("demo", "1.0", ["attrs>=22"], metadata_version="2.2")
    path = make_sdist(tmp_path, "demo", "1.0", files={"PKG-INFO": pkg_info})
    md = read_metadata(path)
    assert (md.name, [str(r) for r in md.requires_dist], md.provenance) == ("demo", ["attrs>=22"], "pkg-info-static")


def test_an_unknown_suffix_is_a_usage_error(tmp_path):
    path = tmp_path / "demo-1.0.rpm"
    path.write_bytes(b"x")
    with pytest.raises(UsageError, match=r"demo-1.0.rpm: not a wheel"):
        read_metadata(path)


def test_a_missing_file_names_the_file(tmp_path):
    with pytest.raises(InvalidArchive, match=r"nothere-1.0-py3-none-any.whl: No such file"):
        read_metadata(tmp_path / "nothere-1.0-py3-none-any.whl")


@pytest.fixture
def served(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path (range requests included, as http.server does not do
    them the remote code must fall back honestly)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_read_metadata_of_a_url_goes_through_the_remote_reader(tmp_path, served):
    make_wheel(tmp_path, "demo", "1.0", requires=["idna"])
    md = read_metadata(f"{served}/demo-1.0-py3-none-any.whl")
    assert (md.name, [str(r) for r in md.requires_dist]) == ("demo", ["idna"])


def test_audit_wheel_of_a_pure_wheel_by_path_file_url_and_http_url(tmp_path, served):
    path = make_wheel(tmp_path, "demo", "1.0")
    assert wheelmeta.audit_wheel is audit_wheel
    for where in (str(path), path.as_uri(), f"{served}/{path.name}"):
        audit = audit_wheel(where)
        assert audit.kind == "pure" and audit.elf_files == (), where
