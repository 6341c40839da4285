"""store/: schema 3 keeps one copy of each distinct dependency list (requires-dist, provides-extra,
requires-python) in ``dependency_lists``, and reads back exactly the metadata schema 2 gave."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from test_store import schema_1_store, schema_2_metadata

from wheelmeta.crawl import export_snapshot, import_snapshot
from wheelmeta.errors import StoreError
from wheelmeta.model import DistMetadata
from wheelmeta.store import (
    SCHEMA_VERSION,
    MetadataStore,
    metadata_from_json,
    metadata_to_json,
)

SRC = str(Path(__file__).resolve().parent.parent / "src")


def _reqs(*texts: str):
    return tuple(Requirement(t) for t in texts)


RUNTIME = _reqs("numpy>=1.22", 'pytest; extra == "test"', 'colorama; sys_platform == "win32"')

#: Every shape a stored DistMetadata takes: a wheel, the sdist of the same release (same list, plus build
#: requirements), a wheel with nothing at all, one with problems, one with an extra but no requirement.
SHAPES = {
    "wheel": DistMetadata("demo", "1.0", SpecifierSet(">=3.9"), RUNTIME, ("test",), "pep658",
                          source="http://127.0.0.1:9/f/demo-1.0-py3-none-any.whl", metadata_version="2.1"),
    "sdist": DistMetadata("demo", "1.0", SpecifierSet(">=3.9"), RUNTIME, ("test",), "setup-py-sandboxed",
                          source="http://127.0.0.1:9/f/demo-1.0.tar.gz", metadata_version="2.1",
                          build_requires=_reqs("setuptools>=61", "wheel"), test_requires=_reqs("pytest"),
                          isolation="bwrap", python_version="3.12"),
    "empty": DistMetadata("bare", "0.1", None, (), (), "wheel-metadata"),
    "problems": DistMetadata("odd", "2.0", None, _reqs("six"), (), "pkg-info-static",
                             problems=("Requires-Dist 'six (' does not parse", "no Metadata-Version")),
    "extra-only": DistMetadata("ext", "3.0", SpecifierSet("!=3.0.*,>=2.7"), (), ("docs",), "pep621",
                               build_requires=_reqs("flit_core<4,>=3.2")),
}


def _sha(n: int) -> str:
    return f"{n:064x}"


def _record_as_schema_2(db: sqlite3.Connection, sha256: str, md: DistMetadata) -> None:
    """What wheelmeta with schema 2 wrote for a file's metadata: its whole JSON body in one row."""
    body = metadata_to_json(md)
    db.execute("INSERT INTO metadata VALUES (?, ?, ?, ?, ?, ?)",
               (sha256, body["provenance"], int(md.static), json.dumps(body, sort_keys=True), "2026-01-01T00:00:00Z",
                "wheelmeta 0.9"))


def _schema_2_store(path: Path) -> None:
    """A schema 2 store holding every shape (keys 1..n in SHAPES order)."""
    MetadataStore(path).close()
    with sqlite3.connect(path) as db:
        schema_2_metadata(db)
        for n, md in enumerate(SHAPES.values(), 1):
            _record_as_schema_2(db, _sha(n), md)


def _list_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM dependency_lists").fetchone()[0]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_metadata_shape_reads_back_as_schema_2_read_it(tmp_path, shape):
    md = SHAPES[shape]
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_metadata(_sha(1), md)
        back = store.metadata(_sha(1))
        (row,) = store.rows("metadata")
    assert back == md  # test_requires included: schema 2 lost them on every read
    assert metadata_from_json(metadata_to_json(md)) == md
    assert json.loads(row[3]) == metadata_to_json(md)


def test_files_declaring_the_same_list_share_one_row(tmp_path):
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_metadata(_sha(1), SHAPES["wheel"])
        store.record_metadata(_sha(2), SHAPES["sdist"])  # same list, other provenance, build requirements
        store.record_metadata(_sha(3), SHAPES["wheel"])
        assert store.counts()["dependency_lists"] == 1
        store.record_metadata(_sha(4), SHAPES["empty"])
        assert store.counts()["dependency_lists"] == 2
        assert store.metadata(_sha(2)).build_requires == SHAPES["sdist"].build_requires


def test_a_list_differing_in_requires_python_alone_is_another_row(tmp_path):
    from dataclasses import replace

    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_metadata(_sha(1), SHAPES["wheel"])
        store.record_metadata(_sha(2), replace(SHAPES["wheel"], requires_python=SpecifierSet(">=3.10")))
        assert store.counts()["dependency_lists"] == 2
        assert str(store.metadata(_sha(2)).requires_python) == ">=3.10"


def test_a_list_goes_with_the_last_row_that_references_it(tmp_path):
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_metadata(_sha(1), SHAPES["wheel"])
        store.record_metadata(_sha(2), SHAPES["wheel"])
        store.record_metadata(_sha(1), SHAPES["empty"])  # re-learned: still referenced by file 2
        assert store.counts()["dependency_lists"] == 2
        store.record_metadata(_sha(2), SHAPES["empty"])
        assert store.counts()["dependency_lists"] == 1
        assert store.metadata(_sha(2)) == metadata_from_json(metadata_to_json(SHAPES["empty"]))


def test_a_schema_2_store_is_read_as_it_is_when_opened_read_only(tmp_path):
    _schema_2_store(tmp_path / "s.sqlite")
    with MetadataStore(tmp_path / "s.sqlite", readonly=True) as store:
        assert store.schema == 2
        assert [store.metadata(_sha(n)) for n in range(1, len(SHAPES) + 1)] == [
            metadata_from_json(metadata_to_json(md)) for md in SHAPES.values()]
        assert [json.loads(row[3]) for row in store.rows("metadata")] == [metadata_to_json(md)
                                                                          for md in SHAPES.values()]


def test_a_schema_2_store_is_converted_in_place_when_opened_for_writing(tmp_path):
    path = tmp_path / "s.sqlite"
    _schema_2_store(path)
    with MetadataStore(path, readonly=True) as old:
        before = list(old.rows("metadata"))
    with MetadataStore(path) as store:
        assert store.schema == SCHEMA_VERSION == 3
        assert list(store.rows("metadata")) == before  # stamps kept, bodies equal
        assert store.metadata(_sha(2)) == metadata_from_json(metadata_to_json(SHAPES["sdist"]))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "metadata_schema_2" not in tables
    assert _list_count(path) == len(SHAPES) - 1  # the wheel and its sdist share one


def test_a_schema_2_store_with_a_damaged_body_is_refused_unchanged(tmp_path):
    path = tmp_path / "s.sqlite"
    _schema_2_store(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE metadata SET body = 'not json' WHERE sha256 = ?", (_sha(3),))
    with pytest.raises(StoreError, match=f"{path}: .*metadata of {_sha(3)} is not a JSON object"):
        MetadataStore(path)
    with MetadataStore(path, readonly=True) as store:
        assert store.schema == 2 and store.metadata(_sha(1)) is not None


def test_a_store_of_schema_4_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "s.sqlite"
    MetadataStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match=f"{path}: store schema '4' is newer"):
        MetadataStore(path, readonly=True)


_WRITER = """
import sys
from wheelmeta.model import DistMetadata
from wheelmeta.store import MetadataStore
from packaging.requirements import Requirement

path, first = sys.argv[1], int(sys.argv[2])
with MetadataStore(path) as store:
    for n in range(first, first + 200):  # 200 files over 5 lists, the same 5 in both processes
        md = DistMetadata("p", str(n), None, (Requirement(f"dep{n % 5}>=1"),), (), "pep658")
        store.record_metadata(f"{n:064x}", md)
"""


def test_two_processes_recording_the_same_lists_at_once_keep_one_row_each(tmp_path):
    path = tmp_path / "s.sqlite"
    MetadataStore(path).close()
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(first)], env=env,
                              stderr=subprocess.PIPE, text=True) for first in (0, 100)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with MetadataStore(path, readonly=True) as store:
        assert store.counts()["metadata"] == 300 and store.counts()["dependency_lists"] == 5
        assert [str(r) for r in store.metadata(f"{257:064x}").requires_dist] == ["dep2>=1"]


def test_a_snapshot_round_trip_keeps_the_facts_and_the_sharing(tmp_path):
    with MetadataStore(tmp_path / "a.sqlite") as store:
        for n, md in enumerate(SHAPES.values(), 1):
            store.record_metadata(_sha(n), md)
        first = export_snapshot(store, tmp_path / "a.jsonl.gz")
    import_snapshot(tmp_path / "a.jsonl.gz", tmp_path / "b.sqlite")
    with MetadataStore(tmp_path / "b.sqlite") as store:
        second = export_snapshot(store, tmp_path / "b.jsonl.gz")
        export_snapshot(store, tmp_path / "b2.jsonl.gz")
        assert store.metadata(_sha(2)) == metadata_from_json(metadata_to_json(SHAPES["sdist"]))
    assert first["content_sha256"] == second["content_sha256"] and first["format_version"] == 1
    assert (tmp_path / "b.jsonl.gz").read_bytes() == (tmp_path / "b2.jsonl.gz").read_bytes()
    assert _list_count(tmp_path / "b.sqlite") == _list_count(tmp_path / "a.sqlite") == len(SHAPES) - 1


def test_a_schema_2_store_exports_the_same_facts_as_its_upgrade(tmp_path):
    _schema_2_store(tmp_path / "s.sqlite")
    with MetadataStore(tmp_path / "s.sqlite", readonly=True) as old:
        before = export_snapshot(old, tmp_path / "old.jsonl.gz")
    with MetadataStore(tmp_path / "s.sqlite") as new:
        after = export_snapshot(new, tmp_path / "new.jsonl.gz")
    assert before["content_sha256"] == after["content_sha256"]


def test_two_lists_at_the_same_address_get_ids_of_their_own(tmp_path, monkeypatch):
    import wheelmeta.store as store_module

    monkeypatch.setattr(store_module, "_list_key", lambda text: (1 << 63) - 1)  # every list collides, at the top
    with MetadataStore(tmp_path / "s.sqlite") as store:
        for n, md in enumerate(SHAPES.values(), 1):
            store.record_metadata(_sha(n), md)
        assert [store.metadata(_sha(n)) for n in range(1, len(SHAPES) + 1)] == [
            metadata_from_json(metadata_to_json(md)) for md in SHAPES.values()]
        assert store.counts()["dependency_lists"] == len(SHAPES) - 1


def test_a_reader_of_schema_2_fails_cleanly_once_another_process_upgraded_the_store(tmp_path):
    path = tmp_path / "s.sqlite"
    _schema_2_store(path)
    with MetadataStore(path, readonly=True) as reader:
        assert reader.metadata(_sha(1)) is not None
        MetadataStore(path).close()  # the upgrade, by another connection
        with pytest.raises(StoreError, match=f"{path}: metadata store error"):
            reader.metadata(_sha(1))


def test_a_stored_build_requirement_that_no_longer_parses_is_a_problem_not_dropped(tmp_path):
    body = {**metadata_to_json(SHAPES["sdist"]), "build_requires": ["setuptools>=61", "wheel (("]}
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_file_facts(_sha(1), metadata=body)
        back = store.metadata(_sha(1))
    assert [str(r) for r in back.build_requires] == ["setuptools>=61"]
    assert back.problems == ("stored requirement 'wheel ((' does not parse",)


def test_files_sharing_a_list_read_back_equal_lists_and_their_own_facts(tmp_path):
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_metadata(_sha(1), SHAPES["wheel"])
        store.record_metadata(_sha(2), SHAPES["sdist"])
        wheel, sdist = store.metadata(_sha(1)), store.metadata(_sha(2))
    assert wheel.requires_dist == sdist.requires_dist == RUNTIME
    assert (wheel.provenance, sdist.provenance) == ("pep658", "setup-py-sandboxed")
    assert (wheel.source, sdist.build_requires) == (SHAPES["wheel"].source, SHAPES["sdist"].build_requires)


def test_reading_a_file_s_metadata_looks_up_two_primary_keys_and_scans_nothing(tmp_path):
    with MetadataStore(tmp_path / "s.sqlite") as store:
        plan = store._db.execute(f"EXPLAIN QUERY PLAN {store._metadata_select()} WHERE m.sha256 = ?",
                                 (_sha(1),)).fetchall()
    steps = [row[3] for row in plan]
    assert len(steps) == 2 and not any(step.startswith("SCAN") for step in steps), steps


def test_a_schema_1_store_with_metadata_goes_through_both_upgrades(tmp_path):
    path = tmp_path / "s.sqlite"
    schema_1_store(path)
    with sqlite3.connect(path) as db:
        for n, md in enumerate(SHAPES.values(), 1):
            _record_as_schema_2(db, _sha(n), md)  # schemas 1 and 2 stored metadata alike
    with MetadataStore(path) as store:
        assert store.schema == 3 and store.page("u")["body"] == "page"
        assert [store.metadata(_sha(n)) for n in range(1, len(SHAPES) + 1)] == [
            metadata_from_json(metadata_to_json(md)) for md in SHAPES.values()]
    assert _list_count(path) == len(SHAPES) - 1
