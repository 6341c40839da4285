"""store/: the SQLite metadata store, its schema check and the facts it keeps."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Mapping, NamedTuple, Optional, Tuple

import pytest
from builders import make_wheel
from elfbuild import PYEXT_SOURCE, compile_so

from wheelmeta import audit_wheel, read_metadata
from wheelmeta.errors import StoreError
from wheelmeta.store import SCHEMA_VERSION, MetadataStore, default_store_path


def test_metadata_round_trips_with_its_provenance(tmp_path):
    wheel = make_wheel(tmp_path, "demo", "1.0", requires=['idna; extra == "x"', "six>=1"], requires_python=">=3.8")
    md = read_metadata(str(wheel))
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_metadata("AB" * 32, md)
        back = store.metadata("ab" * 32)
    assert back.provenance == "wheel-metadata"
    assert [str(r) for r in back.requires_dist] == [str(r) for r in md.requires_dist]
    assert str(back.requires_python) == ">=3.8"


def test_an_audit_round_trips_and_gives_the_same_facts(tmp_path):
    ext = compile_so(tmp_path / "b", "_c.cpython-312-x86_64-linux-gnu.so", PYEXT_SOURCE.format(module="_c"),
                     libs=["z"])
    wheel = make_wheel(tmp_path, "zd", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64",
                       files={"zd/_c.cpython-312-x86_64-linux-gnu.so": ext.read_bytes()})
    audit = audit_wheel(str(wheel))
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_audit("cd" * 32, audit, ["zd"])
        back, modules = store.audit("cd" * 32)
    assert back == audit and modules == ("zd",)


def test_a_store_of_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    MetadataStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this wheelmeta"):
        MetadataStore(path)


def test_offline_without_a_store_file_says_to_fill_it(tmp_path):
    with pytest.raises(StoreError, match="no metadata store here"):
        MetadataStore(tmp_path / "none.sqlite", readonly=True)


def test_the_cache_dir_variable_moves_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("WHEELMETA_CACHE_DIR", str(tmp_path / "c"))
    assert default_store_path() == tmp_path / "c" / "store.sqlite"
    monkeypatch.delenv("WHEELMETA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "wheelmeta" / "store.sqlite"


class _Note(NamedTuple):
    sonames: Tuple[str, ...]
    priority: str


@dataclasses.dataclass(frozen=True)
class _Facts:
    path: str
    notes: Tuple[_Note, ...] = ()
    versions: Mapping[str, Tuple[str, ...]] = dataclasses.field(default_factory=dict)
    soname: Optional[str] = None


def test_stored_json_is_rebuilt_by_the_dataclass_field_types():
    from wheelmeta.store import _from_fields

    facts = _Facts("a.so", (_Note(("libx.so.1",), "required"),), {"libc.so.6": ("GLIBC_2.17",)})
    back = _from_fields(_Facts, json.loads(json.dumps({**dataclasses.asdict(facts), "added_later": 1})))
    assert back == facts and isinstance(back.notes[0], _Note)


def test_index_facts_about_a_file_are_kept_with_its_yanked_state(tmp_path):
    from packaging.version import Version

    from wheelmeta.model import DistFile

    dist = DistFile("demo-1.0.tar.gz", "http://127.0.0.1:9/files/demo-1.0.tar.gz", "sdist", "demo", Version("1.0"),
                    hashes={"sha256": "ab" * 32}, size=10, yanked="broken", index="http://127.0.0.1:9/simple")
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.record_files([dist])
        store.record_files([dist])  # listed again: one row
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("SELECT project, yanked, size, index_url FROM files").fetchall() == [
            ("demo", "broken", 10, "http://127.0.0.1:9/simple")]


_SCHEMA_1_PAGES = ("CREATE TABLE pages (url TEXT PRIMARY KEY, project TEXT NOT NULL, index_url TEXT NOT NULL, "
                   "final_url TEXT NOT NULL, content_type TEXT NOT NULL, body TEXT NOT NULL, etag TEXT, "
                   "last_modified TEXT, fetched_at TEXT NOT NULL)")


#: The metadata table of schemas 1 and 2: the whole body of :func:`metadata_to_json` in one column.
SCHEMA_2_METADATA = ("CREATE TABLE metadata (sha256 TEXT PRIMARY KEY, provenance TEXT NOT NULL, static INTEGER NOT "
                     "NULL, body TEXT NOT NULL, recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL)")


def schema_2_metadata(db: sqlite3.Connection) -> None:
    """Give a new (empty) store the metadata table of schema 2, as wheelmeta wrote it before dependency lists were
    shared."""
    db.execute("DROP TABLE metadata")
    db.execute("DROP TABLE dependency_lists")
    db.execute(SCHEMA_2_METADATA)
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def schema_1_store(path) -> None:
    """A store as wheelmeta wrote it before pages kept their parsed files: schema 1, one page stored."""
    MetadataStore(path).close()
    with sqlite3.connect(path) as db:
        schema_2_metadata(db)
        db.execute("DROP TABLE pages")
        db.execute(_SCHEMA_1_PAGES)
        db.execute("INSERT INTO pages VALUES ('u', 'demo', 'i', 'u', 'text/html', 'page', NULL, NULL, "
                   "'2020-01-01T00:00:00Z')")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_a_schema_1_store_is_read_as_it_is_when_opened_read_only(tmp_path):
    schema_1_store(tmp_path / "s.sqlite")
    with MetadataStore(tmp_path / "s.sqlite", readonly=True) as store:
        page = store.page("u")
    assert (page["body"], page["files"], page["max_age"]) == ("page", None, None)


def test_a_schema_1_store_is_upgraded_in_place_keeping_its_pages(tmp_path):
    schema_1_store(tmp_path / "s.sqlite")
    with MetadataStore(tmp_path / "s.sqlite") as store:
        assert store.schema == SCHEMA_VERSION
        assert store.page("u")["body"] == "page" and store.page("u")["files"] is None
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_the_parsed_files_of_a_page_read_back_equal(tmp_path):
    from wheelmeta.index.simple import parse_json_page
    from wheelmeta.store import files_from_json, files_to_json

    entries = [{"filename": "demo-1.0-py3-none-any.whl", "url": "../../f/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": "ab" * 32}, "requires-python": ">=3.8", "core-metadata": {"sha256": "cd"},
                "size": 10, "upload-time": "2020-01-01T00:00:00Z"},
               {"filename": "Demo-1.0.post0.tar.gz", "url": "x/Demo-1.0.post0.tar.gz", "hashes": {},
                "yanked": "broken"},
               {"filename": "demo-2.0-1-cp312-cp312-manylinux_2_17_x86_64.whl", "url": "y.whl", "yanked": True}]
    files = parse_json_page(json.dumps({"files": entries}), "https://i.invalid/simple/demo/", project="demo",
                            index="https://i.invalid/simple")
    assert len(files) == 3
    assert files_from_json(files_to_json(files), "https://i.invalid/simple") == files


def test_rows_page_by_key_and_the_store_can_be_used_between_them(tmp_path):
    """rows() held the store's lock while it yielded, so a caller asking the store anything inside the loop (or a
    loop left unfinished) hung every later use. It now reads a page at a time by key."""
    import threading

    from wheelmeta.model import DistMetadata

    shas = [f"{n:064x}" for n in range(2500)]  # more than two pages
    with MetadataStore(tmp_path / "s.sqlite") as store:
        store.load_rows([("failures", (sha, step, "why", "2026-01-01T00:00:00Z")) for sha in shas
                         for step in ("metadata", "scan")])
        for sha in shas[:1200]:
            store.record_metadata(sha, DistMetadata("demo", "1.0", None, (), (), "pep658"))
        seen: list = []

        def walk() -> None:
            for row in store.rows("metadata"):
                seen.append((row[0], store.metadata(row[0]).name))  # the store, used inside the loop
            unfinished = store.rows("failures")
            next(unfinished)  # left unfinished: holds nothing
            seen.append(("failures", sum(1 for _ in store.rows("failures"))))

        worker = threading.Thread(target=walk, daemon=True)
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "rows() kept the store locked"
    assert [sha for sha, _ in seen[:-1]] == shas[:1200]
    assert seen[-1] == ("failures", 5000)


def _page_files(versions) -> list:
    from wheelmeta.index.simple import parse_json_page

    entries = [{"filename": f"demo-{v}-py3-none-any.whl", "url": f"demo-{v}-py3-none-any.whl",
                "hashes": {"sha256": f"{i:064x}"}} for i, v in enumerate(versions)]
    entries.append({"filename": f"demo-{versions[0]}.tar.gz", "url": f"demo-{versions[0]}.tar.gz", "hashes": {}})
    return parse_json_page(json.dumps({"files": entries}), "https://i.invalid/simple/demo/", project="demo",
                           index="https://i.invalid/simple")


def _damage_group(text: str, version: str) -> str:
    """The stored rows with the group of ``version`` overwritten (same length, so the other groups stay in place)."""
    header, _, rows = text.partition("\n")
    _, start, end = next(span for span in json.loads(header)["versions"] if span[0] == version)
    return header + "\n" + rows[:start] + "x" * (end - start) + rows[end:]


def test_stored_files_decode_only_the_versions_asked_for():
    from packaging.version import Version

    from wheelmeta.store import StoredFiles, files_to_json

    files = _page_files(["1.0", "2.0", "3.0"])
    stored = StoredFiles(_damage_group(files_to_json(files), "1.0"), "https://i.invalid/simple")
    assert sorted(stored.versions()) == [Version("1.0"), Version("2.0"), Version("3.0")]
    assert stored.files(Version("2.0")) == [f for f in files if f.version == Version("2.0")]
    with pytest.raises(ValueError, match="1.0"):
        stored.files(Version("1.0"))


def test_a_damaged_group_of_stored_files_is_answered_from_the_page_parsed_again():
    from packaging.version import Version

    from wheelmeta.store import StoredFiles, files_to_json

    files = _page_files(["1.0", "2.0"])
    stored = StoredFiles(_damage_group(files_to_json(files), "1.0"), "https://i.invalid/simple", lambda: files)
    assert stored.files(Version("1.0")) == [f for f in files if f.version == Version("1.0")]
    assert stored.all() == files


def test_versions_spelled_differently_but_equal_share_a_group_and_keep_their_spelling():
    from packaging.version import Version

    from wheelmeta.store import StoredFiles, files_to_json

    files = _page_files(["1.0", "1.0.0", "2.0"])
    stored = StoredFiles(files_to_json(files), "https://i.invalid/simple")
    assert sorted(stored.versions()) == [Version("1"), Version("2")]
    assert [str(f.version) for f in stored.files(Version("1"))] == ["1.0", "1.0.0", "1.0"]
    assert stored.all() == files


def test_file_rows_stored_in_the_first_flat_layout_still_read_back():
    from wheelmeta.store import files_from_json

    files = _page_files(["1.0", "2.0"])
    flat = json.dumps([[f.filename, f.url, f.kind, f.name, str(f.version), dict(f.hashes), f.size, f.requires_python,
                        f.yanked, f.core_metadata, f.upload_time] for f in files])
    assert files_from_json(flat, "https://i.invalid/simple") == files
