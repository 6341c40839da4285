"""``wheelmeta crawl`` and its snapshots against a real index server on 127.0.0.1 with a few dozen projects.

The index (:func:`index_folder`): 24 ``libNN`` projects with two releases each (wheels; sdists with a static PKG-INFO
for every third), a Linux wheel with a real ELF extension (``native``), an sdist-only release (``onlysdist``), an
sdist that is not an archive (``broken``), a project whose page always answers 500 (``failing``) and one whose page is
slow (``slowpoke``).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import List

import pytest
import tomllib
from builders import make_sdist, make_wheel, metadata_text
from elfbuild import PYEXT_SOURCE, compile_so
from fuzz_crawl import (
    project_list_seeds,
    run_project_list,
    run_snapshot,
    snapshot_seeds,
)
from indexserver import IndexServer

from wheelmeta.cli import main
from wheelmeta.crawl import (
    CrawlSettings,
    crawl,
    export_snapshot,
    import_snapshot,
    parse_since,
    select_releases,
)
from wheelmeta.crawl.tasks import client_for
from wheelmeta.errors import StoreError
from wheelmeta.store import MetadataStore

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]
LIBS = [f"lib{i:02d}" for i in range(24)]
PROJECTS = [*LIBS, "native", "onlysdist", "broken", "failing", "slowpoke"]
#: settings for tests: no waiting between retries of the 500 page
FAST = CrawlSettings(retries=1, backoff=0.0)


@pytest.fixture(autouse=True)
def only_named_indexes(monkeypatch):
    """No pip config files, no PIP_* variables of this machine."""
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crawlindex")
    for i, name in enumerate(LIBS):
        requires = [f"{LIBS[i - 1]}>=1"] if i else []
        for version in ("1.0", "2.0"):
            make_wheel(folder, name, version, requires=requires, requires_python=">=3.8")
            if i % 3 == 0:
                make_sdist(folder, name, version, files={
                    "PKG-INFO": metadata_text(name, version, requires=requires, metadata_version="2.2")})
    ext = compile_so(folder / "build", "_n.cpython-312-x86_64-linux-gnu.so", PYEXT_SOURCE.format(module="_n"),
                     libs=["z"])
    make_wheel(folder, "native", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", requires=["lib00"],
               files={"native/__init__.py": b"", "native/_n.cpython-312-x86_64-linux-gnu.so": ext.read_bytes()})
    make_sdist(folder, "onlysdist", "1.0", files={"PKG-INFO": metadata_text("onlysdist", "1.0", requires=["lib01"],
                                                                            metadata_version="2.2")})
    (folder / "broken-1.0.tar.gz").write_bytes(b"this is not a tar archive\n" * 10)
    make_wheel(folder, "failing", "1.0")
    make_wheel(folder, "slowpoke", "1.0")
    return folder


def _server(folder: Path, **options) -> IndexServer:
    options = {"failing_pages": {"failing": 500}, "slow_pages": {"slowpoke": 0.3}, "etags": True, **options}
    return IndexServer(folder, **options)


def _crawl(store_path: Path, server: IndexServer, projects=PROJECTS, **options):
    with MetadataStore(store_path) as store:
        return crawl(store, projects, index_urls=[server.index_url], settings=options.pop("settings", FAST),
                     jobs=4, **options)


def _facts(store_path: Path) -> List[bytes]:
    """The store's facts as canonical lines: what a snapshot holds, without the header's dates."""
    snapshot = store_path.parent / f"{store_path.name}.facts.gz"
    with MetadataStore(store_path) as store:
        export_snapshot(store, snapshot)
    with gzip.open(snapshot) as f:
        return f.read().splitlines()[1:]


# -- a full crawl -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [{"fmt": "html", "pep658": False}, {"fmt": "json", "pep658": True}],
                         ids=["html-ranges", "json-pep658"])
def test_a_full_crawl_records_every_file_with_its_facts_and_reports_failures(tmp_path, index_folder, form):
    with _server(index_folder, **form) as server:
        report = _crawl(tmp_path / "s.sqlite", server, settings=CrawlSettings(scan=True, retries=1, backoff=0.0))
    files = sorted(p.name for p in index_folder.iterdir() if p.is_file() and not p.name.startswith("failing"))
    with MetadataStore(tmp_path / "s.sqlite") as store:
        listed = sorted(row[1] for row in store.rows("files"))
        provenances = {json.loads(row[3])["name"] + " " + row[1] for row in store.rows("metadata")}
        failures = {row[1]: row[2] for row in store.rows("failures")}
        audits = [json.loads(row[1]) for row in store.rows("audits")]
    assert listed == files
    assert report.files_done == len(files) and report.files_skipped == 0
    wheel_provenance = "pep658" if form["pep658"] else "wheel-metadata"
    assert f"lib05 {wheel_provenance}" in provenances and "onlysdist pkg-info-static" in provenances
    assert list(failures) == ["metadata"] and "broken-1.0.tar.gz" in json.dumps(report.failures)
    assert [f["what"] for f in report.failures if f["step"] == "page"] == ["failing"]
    assert len(audits) == 1 and audits[0]["modules"] == ["native"]
    assert "libz.so.1" in json.dumps(audits[0]["audit"])


def test_latest_keeps_only_the_newest_releases_of_each_project(tmp_path, index_folder):
    with _server(index_folder) as server:
        report = _crawl(tmp_path / "s.sqlite", server, projects=["lib03"], latest=1)
    with MetadataStore(tmp_path / "s.sqlite") as store:
        versions = {json.loads(row[3])["version"] for row in store.rows("metadata")}
    assert versions == {"2.0"} and report.files_selected == 2 and report.files_listed == 4


def test_named_versions_crawl_only_those_releases_and_report_a_missing_one(tmp_path, index_folder):
    with _server(index_folder) as server:
        report = _crawl(tmp_path / "s.sqlite", server, projects=["lib03", "lib04"],
                        versions={"lib03": {"1.0", "7.0"}})
    with MetadataStore(tmp_path / "s.sqlite") as store:
        crawled = sorted((json.loads(row[3])["name"], json.loads(row[3])["version"]) for row in store.rows("metadata"))
    assert crawled == [("lib03", "1.0"), ("lib03", "1.0"), ("lib04", "1.0"), ("lib04", "2.0")]  # lib04 whole
    assert [(f["what"], f["step"]) for f in report.failures] == [("lib03==7.0", "page")]


def test_project_equals_version_on_the_command_line_names_one_release(tmp_path, index_folder, capsys):
    with _server(index_folder) as server:
        code = main(["crawl", "lib03==2.0", "-i", server.index_url, "--store", str(tmp_path / "s.sqlite"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["crawl"]["files_selected"] == 2 and summary["crawl"]["files_listed"] == 4


def test_since_keeps_releases_uploaded_since_the_date_and_those_without_a_date(index_folder):
    import dataclasses

    from wheelmeta.index.simple import IndexClient

    times = {"lib01-1.0-py3-none-any.whl": "2019-05-01T10:00:00Z", "lib01-2.0-py3-none-any.whl": "2025-02-01T10:00:00Z"}
    with _server(index_folder, fmt="json", upload_times=times) as server:
        files = IndexClient([server.index_url]).files("lib01")
    since = parse_since("2024-12-31")
    assert [str(f.version) for f in select_releases(files, since=since)] == ["2.0"]
    undated = [dataclasses.replace(f, upload_time=None) for f in files if str(f.version) == "1.0"]
    assert select_releases(undated, since=since) == undated


# -- resuming and re-crawling -----------------------------------------------------------------------------------------


def test_an_interrupted_crawl_resumes_to_the_same_store_without_redoing_a_file(tmp_path, index_folder):
    with _server(index_folder) as server:
        _crawl(tmp_path / "full.sqlite", server)
        committed = []

        def stop_after_ten(facts) -> None:
            committed.append(facts.filename)
            if len(committed) == 10:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            _crawl(tmp_path / "resumed.sqlite", server, on_file=stop_after_ten)
        server.reset()
        report = _crawl(tmp_path / "resumed.sqlite", server)
        fetched = [path for path, _ in server.log if path.startswith("/files/")]
    assert report.files_skipped >= 10
    assert not any(path.split("/")[-1].removesuffix(".metadata") in committed for path in fetched)
    assert _facts(tmp_path / "resumed.sqlite") == _facts(tmp_path / "full.sqlite")


def test_a_killed_crawl_process_resumes_to_the_same_store(tmp_path, index_folder):
    import signal
    import subprocess
    import sys
    import time

    slow = {name: 0.2 for name in PROJECTS}  # a page every 0.2 s with one job: the kill lands mid-crawl
    with _server(index_folder, slow_pages=slow) as server:
        _crawl(tmp_path / "full.sqlite", server)
        command = [sys.executable, "-m", "wheelmeta", "crawl", *PROJECTS, "-i", server.index_url, "--jobs", "1",
                   "--store", str(tmp_path / "killed.sqlite"), "-q"]
        child = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while _metadata_rows(tmp_path / "killed.sqlite") < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait()
        killed_with = _metadata_rows(tmp_path / "killed.sqlite")
        _crawl(tmp_path / "killed.sqlite", server)
    assert 5 <= killed_with < len(list(index_folder.glob("*.*"))) - 2
    assert _facts(tmp_path / "killed.sqlite") == _facts(tmp_path / "full.sqlite")


def _metadata_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with MetadataStore(path, readonly=True) as store:
            return store.counts()["metadata"]
    except StoreError:  # created but its schema not yet written
        return 0


def test_an_unchanged_recrawl_makes_only_conditional_page_requests(tmp_path, index_folder):
    with _server(index_folder) as server:
        _crawl(tmp_path / "s.sqlite", server)
        server.reset()
        report = _crawl(tmp_path / "s.sqlite", server)
        paths = [path for path, _ in server.log]
    answered = len(PROJECTS) - 1  # the failing page answers 500 (and is retried once) every time
    assert report.files_done == 0 and report.pages_not_modified == answered == server.not_modified
    assert all(path.startswith("/simple/") for path in paths)
    assert len(paths) == answered + 2


def test_a_network_failure_is_retried_by_the_next_crawl_and_then_forgotten(tmp_path, index_folder):
    with _server(index_folder, fmt="json", pep658=True) as server:
        server.failing_files = {"lib00-2.0.tar.gz": 503}
        first = _crawl(tmp_path / "s.sqlite", server, projects=["lib00"], latest=1)
        with MetadataStore(tmp_path / "s.sqlite") as store:
            failed = [(row[1], row[2]) for row in store.rows("failures")]
        server.failing_files = {}
        second = _crawl(tmp_path / "s.sqlite", server, projects=["lib00"], latest=1)
        with MetadataStore(tmp_path / "s.sqlite") as store:
            counts = store.counts()
    assert failed == [("metadata-network", "HTTP 503 Service Unavailable")] and first.files_done == 2
    assert second.files_done == 1 and second.files_skipped == 1
    assert counts["failures"] == 0 and counts["metadata"] == 2


# -- snapshots --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, index_folder):
    """A store crawled from a JSON index with PEP 658, and the server (kept running for the online lock)."""
    folder = tmp_path_factory.mktemp("crawled")
    with _server(index_folder, fmt="json", pep658=True) as server:
        _crawl(folder / "store.sqlite", server, settings=CrawlSettings(scan=True, retries=1, backoff=0.0))
        yield folder / "store.sqlite", server


def test_export_twice_gives_identical_bytes_with_their_hash_and_date_range(tmp_path, crawled):
    store_path, _ = crawled
    with MetadataStore(store_path) as store:
        first = export_snapshot(store, tmp_path / "a.jsonl.gz")
        second = export_snapshot(store, tmp_path / "b.jsonl.gz")
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert first == second and first["crawled"]["from"] <= first["crawled"]["to"]
    import hashlib

    assert first["sha256"] == hashlib.sha256((tmp_path / "a.jsonl.gz").read_bytes()).hexdigest()


def test_lock_offline_from_a_snapshot_equals_the_online_lock(tmp_path, crawled, capsys):
    store_path, server = crawled
    assert main(["crawl", "--store", str(store_path), "--export", str(tmp_path / "snap.gz"), "-q"]) == 0
    online = ["lock", "lib05", "native", "onlysdist", *LINUX, "-i", server.index_url, "-q"]
    assert main([*online, "--cache-dir", str(tmp_path / "fresh"), "-o", str(tmp_path / "online.toml")]) == 0
    assert main(["lock", "lib05", "native", "onlysdist", *LINUX, "--store", str(tmp_path / "snap.gz"), "--offline",
                 "-q", "-o", str(tmp_path / "offline.toml")]) == 0
    offline = tomllib.loads((tmp_path / "offline.toml").read_text())
    assert (tmp_path / "offline.toml").read_text() == (tmp_path / "online.toml").read_text()
    assert {p["name"] for p in offline["packages"]} >= {"lib05", "lib00", "native", "onlysdist"}


def test_a_snapshot_is_refused_without_offline(tmp_path, crawled, capsys):
    store_path, _ = crawled
    with MetadataStore(store_path) as store:
        export_snapshot(store, tmp_path / "snap.gz")
    assert main(["lock", "lib05", *LINUX, "--store", str(tmp_path / "snap.gz"), "-o", str(tmp_path / "x.toml")]) == 2
    assert "add --offline" in capsys.readouterr().err


def _with_header(line: bytes, **changes) -> bytes:
    return json.dumps({**json.loads(line), **changes}).encode() + b"\n"


def _rewrite(source: Path, target: Path, edit) -> None:
    """Decompress, let ``edit`` change the list of lines, compress again."""
    with gzip.open(source) as f:
        lines = f.read().splitlines(keepends=True)
    target.write_bytes(gzip.compress(b"".join(edit(lines))))


@pytest.mark.parametrize("edit, complaint", [
    (lambda lines: lines[:1] + lines[2:], "row counts"),
    (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "out of order"),
    (lambda lines: [*lines[:-1], lines[-1].replace(b'"sha256":"', b'"sha256":"X', 1)], "sha256"),
    (lambda lines: [*lines[:-1], lines[-1][:-3] + b',"extra":1}]\n'], "exactly the columns"),
    (lambda lines: [*lines, b'["files",{"__import__":"os"}]\n'], "exactly the columns"),
    (lambda lines: [lines[0], *(l.replace(b'"pep658"', b'"exec"') for l in lines[1:])], "provenance"),
    (lambda lines: [_with_header(lines[0], content_sha256="0" * 64), *lines[1:]], "content sha256"),
    (lambda lines: [_with_header(lines[0], schema_version=99), *lines[1:]], "schema 99"),
    (lambda lines: [b"{}\n"], "no snapshot header"),
    (lambda lines: [lines[0], b"[1,2\n"], "not JSON"),
], ids=["missing-row", "order", "bad-hash", "extra-column", "unknown-column", "provenance", "header-hash", "schema", "header",
        "json"])
def test_importing_refuses_a_snapshot_that_fails_any_check(tmp_path, crawled, edit, complaint):
    store_path, _ = crawled
    with MetadataStore(store_path) as store:
        export_snapshot(store, tmp_path / "good.gz")
    _rewrite(tmp_path / "good.gz", tmp_path / "bad.gz", edit)
    with pytest.raises(StoreError, match=complaint):
        import_snapshot(tmp_path / "bad.gz", tmp_path / "new.sqlite")
    assert not (tmp_path / "new.sqlite").exists()


def test_importing_a_damaged_file_is_one_error_naming_it(tmp_path, crawled):
    store_path, _ = crawled
    with MetadataStore(store_path) as store:
        export_snapshot(store, tmp_path / "good.gz")
    data = (tmp_path / "good.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"cut\.gz"):
        import_snapshot(tmp_path / "cut.gz", tmp_path / "new.sqlite")


def test_an_imported_snapshot_exports_to_the_same_facts(tmp_path, crawled):
    store_path, _ = crawled
    with MetadataStore(store_path) as store:
        header = export_snapshot(store, tmp_path / "a.gz")
    import_snapshot(tmp_path / "a.gz", tmp_path / "copy.sqlite")
    with MetadataStore(tmp_path / "copy.sqlite") as copy:
        again = export_snapshot(copy, tmp_path / "b.gz")
    assert again["content_sha256"] == header["content_sha256"]


# -- the command line -------------------------------------------------------------------------------------------------


def test_the_command_reads_projects_from_a_file_and_prints_a_json_summary(tmp_path, index_folder, capsys):
    (tmp_path / "projects.txt").write_text("# two projects\nlib02\n\nlib03  # and a comment\nlib02\n")
    with _server(index_folder) as server:
        code = main(["crawl", "--from", str(tmp_path / "projects.txt"), "-i", server.index_url, "--store",
                     str(tmp_path / "s.sqlite"), "--json", "--latest", "1"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["crawl"]["projects"] == 2  # lib02 once
    assert summary["crawl"]["files_done"] == 3 == summary["counts"]["metadata"]  # lib03 2.0 has an sdist too


def test_a_project_the_index_does_not_have_is_reported_not_fatal(tmp_path, index_folder):
    with _server(index_folder) as server:
        report = _crawl(tmp_path / "s.sqlite", server, projects=["lib02", "no-such-project"])
    assert report.files_done == 2
    assert [(f["what"], f["step"]) for f in report.failures] == [("no-such-project", "page")]
    assert "no such project" in report.failures[0]["reason"]


def test_a_bad_project_name_in_the_list_is_a_usage_error_naming_the_line(tmp_path, capsys):
    (tmp_path / "projects.txt").write_text("lib02\nnot a name\n")
    assert main(["crawl", "--from", str(tmp_path / "projects.txt"), "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "projects.txt:2" in capsys.readouterr().err


# -- Dask -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def dask_scheduler(monkeypatch):
    """The address of a LocalCluster of two worker processes (which import this checkout's wheelmeta)."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (wheelmeta[crawl])")
    source = str(Path(__file__).resolve().parent.parent / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])))
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None)
    except Exception as exc:  # noqa: BLE001 - whatever keeps a cluster from starting here is the reason to skip
        pytest.skip(f"a Dask LocalCluster cannot start here: {exc}")
    with cluster:
        yield cluster.scheduler_address


def test_a_crawl_on_dask_workers_gives_the_same_store_as_a_local_crawl(tmp_path, index_folder, dask_scheduler):
    settings = CrawlSettings(scan=True, retries=1, backoff=0.0)
    with _server(index_folder, fmt="json", pep658=True) as server:
        local = _crawl(tmp_path / "local.sqlite", server, settings=settings)
        here = client_for(settings).requests
        remote = _crawl(tmp_path / "dask.sqlite", server, settings=settings, scheduler=dask_scheduler)
        pages_only = client_for(settings).requests - here
    assert remote.files_done == local.files_done > 60
    assert pages_only == len(PROJECTS) + 1  # this process asked for the pages (the failing one twice), no file
    assert _facts(tmp_path / "dask.sqlite") == _facts(tmp_path / "local.sqlite")


# -- fuzz: importing a snapshot from an untrusted source ----------------------------------------------------------------


def _mutations(rng, lines: List[bytes]) -> bytes:
    """One mutated snapshot: lines flipped, cut, repeated, retyped, then (sometimes) the compressed bytes too."""
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        line = bytearray(lines[i])
        choice = rng.randrange(6)
        if choice == 0 and len(line) > 1:
            position = rng.randrange(len(line) - 1)
            line[position] ^= 1 << rng.randrange(8)
        elif choice == 1:
            line = line[: rng.randrange(len(line))] + b"\n"
        elif choice == 2:
            lines.insert(i, bytes(line))
        elif choice == 3:
            for old, new in ((b'"', b"'"), (b"null", b"[]"), (b"1", b"1e999"), (b"{", b"[{"), (b":\"", b":1,\"")):
                if old in line and rng.random() < 0.5:
                    line = line.replace(old, new, 1)
        elif choice == 4:
            line = bytearray(b"[" * rng.randint(1, 100000) + b"\n")
        else:
            del lines[i]
            continue
        lines[i] = bytes(line)
    if lines and rng.random() < 0.5:  # a forger recomputes the hash: the checks of each row must stop it
        import hashlib

        try:
            header = json.loads(lines[0])
            header["content_sha256"] = hashlib.sha256(b"".join(lines[1:])).hexdigest()
            lines[0] = json.dumps(header).encode() + b"\n"
        except (ValueError, TypeError, RecursionError):
            pass
    data = gzip.compress(b"".join(lines), mtime=0)
    if rng.random() < 0.2:
        flipped = bytearray(data)
        flipped[rng.randrange(len(flipped))] ^= 0xFF
        data = bytes(flipped)
    return data


def test_a_mutated_snapshot_is_imported_or_refused_with_one_store_error(tmp_path, crawled):
    import random

    store_path, _ = crawled
    with MetadataStore(store_path) as store:
        export_snapshot(store, tmp_path / "seed.gz")
    seeds = [(tmp_path / "seed.gz").read_bytes(), *snapshot_seeds(tmp_path)]
    rng, outcomes = random.Random(13), {"ok": 0, "refused": 0}
    for run in range(240):
        lines = gzip.decompress(seeds[run % len(seeds)]).splitlines(keepends=True)
        try:
            run_snapshot(_mutations(rng, lines), tmp_path)
            outcomes["ok"] += 1
        except StoreError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["ok"] > 0  # never anything but a StoreError


def test_the_command_ends_with_a_table_of_failures_and_exits_zero(tmp_path, index_folder, capsys):
    with _server(index_folder) as server:
        code = main(["crawl", "broken", "failing", "lib01", "-i", server.index_url, "--store",
                     str(tmp_path / "s.sqlite"), "--rate", "0"])
    out, err = capsys.readouterr()
    table = out.splitlines()
    assert code == 0
    assert table[0].split() == ["file", "or", "project", "step", "reason"]
    assert [line.split()[:2] for line in table[1:]] == [["failing", "page"], ["broken-1.0.tar.gz", "metadata"]]
    assert "crawled 3 projects: 3 files read" in err


def test_local_files_listed_without_a_hash_are_hashed_and_crawled(tmp_path, index_folder):
    with MetadataStore(tmp_path / "s.sqlite") as store:
        report = crawl(store, ["lib04"], index_urls=[], find_links=[str(index_folder)], settings=FAST, jobs=2)
        listed = sorted(row[1] for row in store.rows("files"))
    assert report.files_done == 2 and not report.failures
    assert listed == ["lib04-1.0-py3-none-any.whl", "lib04-2.0-py3-none-any.whl"]


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_all_crawls_every_project_of_the_index_root(tmp_path, index_folder, fmt, capsys):
    with _server(index_folder, fmt=fmt) as server:
        code = main(["crawl", "--all", "-i", server.index_url, "--store", str(tmp_path / "s.sqlite"), "--json",
                     "--latest", "1", "--rate", "0"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["crawl"]["projects"] == len(PROJECTS)


def test_a_mutated_project_list_is_read_or_refused_with_one_index_error(tmp_path):
    import random

    from wheelmeta.errors import IndexError_

    rng, seeds, outcomes = random.Random(17), project_list_seeds(tmp_path), {"ok": 0, "refused": 0}
    for run in range(300):
        data = bytearray(seeds[run % 2])
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data))
            data[position : position + rng.randint(0, 8)] = rng.choice([b"", b"{", b"[", b'"', b"null", b"<a", b"\xff"])
        try:
            run_project_list(bytes(data), tmp_path)
            outcomes["ok"] += 1
        except IndexError_:
            outcomes["refused"] += 1
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0  # and never another exception


def test_lock_offline_reads_a_crawled_store_file_directly(tmp_path, crawled):
    store_path, server = crawled
    code = main(["lock", "lib03", *LINUX, "-i", server.index_url, "--store", str(store_path), "--offline", "-q",
                 "-o", str(tmp_path / "lock.toml")])
    lock = tomllib.loads((tmp_path / "lock.toml").read_text())
    assert code == 0 and {p["name"] for p in lock["packages"]} == {"lib00", "lib01", "lib02", "lib03"}


def test_a_since_that_is_not_a_date_is_a_usage_error(tmp_path, capsys):
    assert main(["crawl", "lib01", "--since", "last tuesday", "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "--since: 'last tuesday' is not a date" in capsys.readouterr().err
