"""The metadata store: one SQLite file of every fact wheelmeta has learned about a distribution file.

Facts are keyed by the file's sha256, so a fact learned once (through any index, mirror or URL) answers every later
question about the same bytes, and a hash pin in a lock names its facts exactly. What the store holds:

``files``     what an index says about a file: name, project, version, kind, size, requires-python, upload time,
              yanked state (reason), and the URL and index it was last listed at;
``metadata``  its dependency metadata with provenance (PEP 658, range reads, the sdist chain...); the dependency
              list itself (requires-dist, provides-extra, requires-python) is one row of ``dependency_lists``,
              shared by every file that declares the same list (the wheels of a release, its sdist, the next
              release...), and deleted with the last file that references it;
``audits``    for wheels, the scan: the ELF facts of :func:`wheelmeta.extract.audit_wheel` and the top-level
              modules, from which the Nix inputs are computed with whatever soname map is current;
``pages``     index pages (project listings) with their ``ETag`` / ``Last-Modified`` and ``Cache-Control: max-age``,
              so an offline resolution can list files, a warm one skips the request while the page is fresh, and a
              crawler can re-ask with conditional requests; next to each page body, the files parsed from it (a
              derived copy, rewritten with the body, so a warm run does not parse thousands of links again);
``failures``  what could not be learned about a file and why (a failed sdist is data for a crawler, not a stop).

The file lives under the user cache folder (``$XDG_CACHE_HOME/wheelmeta/store.sqlite``), moved with
``--cache-dir`` or ``WHEELMETA_CACHE_DIR``. Several processes share it: WAL journal, a busy timeout, short
transactions, one connection per process. A file that is not a wheelmeta store (another database, garbage, a store
of a newer schema) is a :class:`~wheelmeta.errors.StoreError` naming it.

    >>> store = MetadataStore.open()                                    # doctest: +SKIP
    >>> store.metadata("ab12...")                                       # doctest: +SKIP
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
import typing
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import StoreError
from ..model import STATIC_PROVENANCES, DistFile, DistMetadata, WheelAudit

__all__ = ["MetadataStore", "default_store_path", "SCHEMA_VERSION", "STORE_FILENAME", "CACHE_DIR_ENV", "TABLE_KEYS"]

#: Bumped when a table changes shape; an older wheelmeta refuses a newer store instead of misreading it.
#: 2: pages gained ``files`` (the parsed file rows), ``body_sha256`` and ``max_age``; a schema 1 store is upgraded
#: in place when opened for writing, and read as it is (pages parsed again) when opened read-only.
#: 3: the dependency list of a metadata row moved to ``dependency_lists`` (one row per distinct list, referenced by
#: id), the rest of the row's JSON to ``metadata.facts``; a schema 2 store is converted in place in one transaction
#: when opened for writing, and read as it is when opened read-only.
SCHEMA_VERSION = 3
STORE_FILENAME = "store.sqlite"
CACHE_DIR_ENV = "WHEELMETA_CACHE_DIR"
_APPLICATION = "wheelmeta-store"
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 60.0

#: The fact tables and their primary keys, in the order snapshots list them.
TABLE_KEYS = {"files": ("sha256",), "metadata": ("sha256",), "audits": ("sha256",), "pages": ("url",),
              "failures": ("sha256", "step")}

#: The keys of a metadata body (:func:`metadata_to_json`) that make its dependency list, stored once per distinct list.
#: The sdist-only ``build_requires`` / ``test_requires`` stay with the file: every wheel has them empty, so they
#: would keep an sdist from sharing its wheels' list, and they are short.
DEPENDENCY_KEYS = ("requires_dist", "provides_extra", "requires_python")

#: The schema 3 metadata tables. A list's id is its address: the first 8 bytes of the sha256 of its canonical JSON
#: (a signed 64-bit integer, so the rowid itself: no second index, 8 bytes per reference where a hex sha256 would
#: cost 64, more than many a short list); ``uses`` counts the metadata rows referencing it, so the last one to go
#: deletes it without an index over ``metadata.dependencies``.
_METADATA_TABLES = (
    """CREATE TABLE IF NOT EXISTS metadata (
    sha256 TEXT PRIMARY KEY, provenance TEXT NOT NULL, static INTEGER NOT NULL, facts TEXT NOT NULL,
    dependencies INTEGER NOT NULL REFERENCES dependency_lists (id), recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS dependency_lists (id INTEGER PRIMARY KEY, body TEXT NOT NULL, uses INTEGER NOT NULL)")

#: Per older schema, what the in-place upgrade from it runs: SQL statements, or a function of the connection.
_UPGRADES = {1: ("ALTER TABLE pages ADD COLUMN files TEXT", "ALTER TABLE pages ADD COLUMN body_sha256 TEXT",
                 "ALTER TABLE pages ADD COLUMN max_age INTEGER"),
             2: (lambda db: _split_metadata_bodies(db),)}
_PAGE_COLUMNS = ("final_url", "content_type", "body", "etag", "last_modified", "fetched_at", "files", "body_sha256",
                 "max_age")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY, filename TEXT NOT NULL, project TEXT NOT NULL, version TEXT NOT NULL,
    kind TEXT NOT NULL, size INTEGER, requires_python TEXT, upload_time TEXT, yanked TEXT, url TEXT NOT NULL,
    index_url TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS files_by_project ON files (project, version);
{metadata_tables};
CREATE TABLE IF NOT EXISTS audits (
    sha256 TEXT PRIMARY KEY, body TEXT NOT NULL, recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY, project TEXT NOT NULL, index_url TEXT NOT NULL, final_url TEXT NOT NULL,
    content_type TEXT NOT NULL, body TEXT NOT NULL, etag TEXT, last_modified TEXT, fetched_at TEXT NOT NULL,
    files TEXT, body_sha256 TEXT, max_age INTEGER);
CREATE INDEX IF NOT EXISTS pages_by_project ON pages (project);
CREATE TABLE IF NOT EXISTS failures (
    sha256 TEXT NOT NULL, step TEXT NOT NULL, reason TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (sha256, step));
""".format(metadata_tables=";\n".join(_METADATA_TABLES))


def default_store_path(cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """``cache_dir``/store.sqlite; else ``$WHEELMETA_CACHE_DIR``, else ``$XDG_CACHE_HOME/wheelmeta``, else
    ``~/.cache/wheelmeta``."""
    folder = cache_dir or os.environ.get(CACHE_DIR_ENV)
    if not folder:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(xdg, "wheelmeta")
    return Path(folder) / STORE_FILENAME


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataStore:
    """One store file, shared safely by threads of this process and by other processes."""

    def __init__(self, path: Union[str, os.PathLike], *, readonly: bool = False) -> None:
        from .. import __version__

        self.path = Path(path)
        self.readonly = readonly
        self._version = f"wheelmeta {__version__}"
        self._lock = threading.Lock()
        self._db = self._connect()
        self.reads = 0  # facts answered from the store (benchmarks and --json summaries report it)
        self.writes = 0

    @classmethod
    def open(cls, cache_dir: Optional[Union[str, os.PathLike]] = None, **kwargs) -> "MetadataStore":
        """The store under ``cache_dir`` (default: see :func:`default_store_path`), created when missing."""
        return cls(default_store_path(cache_dir), **kwargs)

    # -- opening ---------------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.readonly and not self.path.is_file():
            raise StoreError(self.path, "no metadata store here (run once without --offline to fill it)")
        if not self.readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(self.path.parent, f"cannot create the store folder: {exc.strerror or exc}") from None
        try:
            db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            # WAL with NORMAL: a commit survives the process being killed, and costs no fsync (a crawl commits
            # each file; a power cut may lose the last few commits, never the database)
            db.execute("PRAGMA synchronous = NORMAL")
            self._check_or_create(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(self.path, f"not a usable wheelmeta metadata store ({exc}); move it away or use "
                                        "--cache-dir") from None
        return db

    def _check_or_create(self, db: sqlite3.Connection) -> None:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise StoreError(self.path, "an SQLite database of another program, not a wheelmeta store")
        if not tables:
            if self.readonly:
                raise StoreError(self.path, "an empty database, not a wheelmeta store")
            _enable_wal(db)
            with _transaction(db):
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('application', ?), ('schema_version', ?)",
                           (_APPLICATION, str(SCHEMA_VERSION)))
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if meta.get("application") != _APPLICATION:
            raise StoreError(self.path, "an SQLite database of another program, not a wheelmeta store")
        version = meta.get("schema_version", "")
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise StoreError(self.path, f"store schema {version!r} is newer than this wheelmeta's "
                                        f"({SCHEMA_VERSION}); upgrade wheelmeta or use another --cache-dir")
        self.schema = int(version)
        if self.schema < SCHEMA_VERSION and not self.readonly:
            self._upgrade(db)

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """Bring an older store to this schema in one transaction (another process may have done it first)."""
        with _transaction(db):
            current = int(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
            for version in range(current, SCHEMA_VERSION):
                for step in _UPGRADES[version]:
                    step(db) if callable(step) else db.execute(step)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        self.schema = SCHEMA_VERSION

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "MetadataStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _use(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, under this process's lock; SQLite errors become a StoreError naming the file."""
        if write and self.readonly:
            raise StoreError(self.path, "the store is open read-only")
        with self._lock:
            try:
                if write:
                    with _transaction(self._db):
                        yield self._db
                else:
                    yield self._db
            except sqlite3.DatabaseError as exc:
                raise StoreError(self.path, f"metadata store error: {exc}") from None

    # -- files -----------------------------------------------------------------------------------------------------

    def record_files(self, files: Sequence[DistFile]) -> None:
        """Remember what an index says about files that carry a sha256 (others cannot be keyed)."""
        rows = [(f.sha256, f.filename, f.name, str(f.version), f.kind, f.size, f.requires_python, f.upload_time,
                 f.yanked, f.url, f.index) for f in files if f.sha256]
        if rows:
            with self._use(write=True) as db:
                db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO "
                               "UPDATE SET size = coalesce(excluded.size, size), "
                               "upload_time = coalesce(excluded.upload_time, upload_time), yanked = excluded.yanked",
                               rows)

    # -- metadata --------------------------------------------------------------------------------------------------

    def metadata(self, sha256: Optional[str]) -> Optional[DistMetadata]:
        """The metadata recorded for the file with this sha256, or None."""
        if not sha256:
            return None
        with self._use() as db:
            # two primary-key lookups: the file's row, then its dependency list
            row = db.execute(f"{self._metadata_select()} WHERE m.sha256 = ?", (sha256.lower(),)).fetchone()
        if row is None:
            return None
        self.reads += 1
        if self.schema < 3:
            return metadata_from_json(json.loads(row[3]))
        return _metadata_from_parts(json.loads(row[3]), _parsed_dependency_list(row[4]))

    def _metadata_select(self) -> str:
        """The query of logical metadata rows (sha256, provenance, static, per-file JSON, dependency JSON,
        recorded_at, recorded_by) as ``m``; a schema 2 store (read-only) keeps the whole body in one column."""
        if self.schema >= 3:
            return ("SELECT m.sha256, m.provenance, m.static, m.facts, d.body, m.recorded_at, m.recorded_by "
                    "FROM metadata AS m JOIN dependency_lists AS d ON d.id = m.dependencies")
        return "SELECT m.sha256, m.provenance, m.static, m.body, '{}', m.recorded_at, m.recorded_by FROM metadata AS m"

    def _body(self, table: str, sha256: Optional[str]) -> Optional[dict]:
        """The JSON body stored for a file in ``table`` ("audits"), or None."""
        if not sha256:
            return None
        with self._use() as db:
            row = db.execute(f"SELECT body FROM {table} WHERE sha256 = ?", (sha256.lower(),)).fetchone()  # noqa: S608
        if row is None:
            return None
        self.reads += 1
        return json.loads(row[0])

    def record_metadata(self, sha256: str, metadata: DistMetadata) -> None:
        self.record_file_facts(sha256, metadata=metadata_to_json(metadata))

    # -- scans -----------------------------------------------------------------------------------------------------

    def audit(self, sha256: Optional[str]) -> Optional[Tuple[WheelAudit, Tuple[str, ...]]]:
        """(the wheel's audit, its top-level modules) recorded for this sha256, or None."""
        body = self._body("audits", sha256)
        return None if body is None else (audit_from_json(body["audit"]), tuple(body["modules"]))

    def record_audit(self, sha256: str, audit: WheelAudit, modules: Sequence[str]) -> None:
        self.record_file_facts(sha256, audit={"audit": dataclasses.asdict(audit), "modules": list(modules)})

    def record_failure(self, sha256: str, step: str, reason: str) -> None:
        self.record_file_facts(sha256, failures=[(step, reason)])

    def clear_failure(self, sha256: str, step: str) -> None:
        """Forget a failure that a later attempt overcame (a network error retried by a re-crawl)."""
        self.record_file_facts(sha256, cleared=[step])

    def record_file_facts(self, sha256: str, *, metadata: Optional[Mapping] = None, audit: Optional[Mapping] = None,
                          failures: Sequence[Tuple[str, str]] = (), cleared: Sequence[str] = ()) -> None:
        """Everything learned about one file in one transaction: ``metadata`` as :func:`metadata_to_json` gives it,
        ``audit`` as ``{"audit": ..., "modules": [...]}``, failures as (step, reason), and failure steps to forget.
        The crawler hands over its workers' JSON as it is, without parsing it back into objects."""
        sha256, now = sha256.lower(), _now()
        with self._use(write=True) as db:
            if metadata is not None:
                _put_metadata(db, (sha256, metadata["provenance"], int(metadata["provenance"] in STATIC_PROVENANCES),
                                   metadata, now, self._version), replace=True)
            if audit is not None:
                db.execute("INSERT OR REPLACE INTO audits VALUES (?, ?, ?, ?)",
                           (sha256, json.dumps(audit, sort_keys=True), now, self._version))
            db.executemany("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?)",
                           [(sha256, step, reason, now) for step, reason in failures])
            db.executemany("DELETE FROM failures WHERE sha256 = ? AND step = ?", [(sha256, step) for step in cleared])
        self.writes += (metadata is not None) + (audit is not None)

    def known(self, sha256s: Sequence[str]) -> Mapping[str, frozenset]:
        """What the store already holds for each file: ``"metadata"``, ``"audit"`` and the steps of recorded
        failures (``"failed:<step>"``). A crawler skips what is known, so nothing is done twice."""
        out: dict = {}
        keys = sorted({s.lower() for s in sha256s})
        with self._use() as db:
            for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for table, label in (("metadata", "'metadata'"), ("audits", "'audit'"),
                                     ("failures", "'failed:' || step")):
                    query = f"SELECT sha256, {label} FROM {table} WHERE sha256 IN ({marks})"  # noqa: S608
                    for sha256, fact in db.execute(query, chunk):
                        out.setdefault(sha256, set()).add(fact)
        return {k: frozenset(v) for k, v in out.items()}

    # -- index pages -----------------------------------------------------------------------------------------------

    def page(self, url: str, *, count: bool = True) -> Optional[dict]:
        """The stored page for a project URL: ``final_url``, ``content_type``, ``body``, ``etag``,
        ``last_modified``, ``fetched_at``, ``files`` (the parsed rows, JSON, or None), ``body_sha256`` and
        ``max_age``; or None. ``count=False`` for a look at its validators only."""
        columns = _PAGE_COLUMNS if self.schema >= 2 else _PAGE_COLUMNS[:6] + ("NULL",) * 3
        with self._use() as db:
            row = db.execute(f"SELECT {', '.join(columns)} FROM pages WHERE url = ?", (url,)).fetchone()  # noqa: S608
        if row is None:
            return None
        self.reads += count
        return dict(zip(_PAGE_COLUMNS, row))

    def record_page(self, url: str, project: str, index_url: str, page, files: Optional[Sequence[DistFile]] = None,
                    ) -> None:
        """Keep an index page (an :class:`~wheelmeta.http.Page`) with its validators, its freshness lifetime and
        the files parsed from it (``None``: not parsed, as for a page that says the project is absent)."""
        encoded = None if files is None else files_to_json(files)
        with self._use(write=True) as db:
            db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (url, project, index_url, page.url, page.content_type, page.text, page.etag,
                        page.last_modified, _now(), encoded, text_sha256(page.text), page.max_age))

    def touch_page(self, url: str, max_age: Optional[int]) -> None:
        """The index confirmed the stored page (a 304, or the same body again): it is fresh from now on."""
        with self._use(write=True) as db:
            db.execute("UPDATE pages SET fetched_at = ?, max_age = ? WHERE url = ?", (_now(), max_age, url))

    # -- whole tables (snapshots) ----------------------------------------------------------------------------------

    def rows(self, table: str) -> Iterator[tuple]:
        """Every row of ``table`` in primary-key order, all columns in schema order (a snapshot's export).
        Metadata rows are the logical ones of schema 2, whatever the layout: (sha256, provenance, static, the whole
        body as JSON text, recorded_at, recorded_by)."""
        key = TABLE_KEYS[table]  # KeyError for a name that is not a table: never interpolated unchecked
        query = (f"{self._metadata_select()} ORDER BY m.sha256" if table == "metadata"
                 else f"SELECT * FROM {table} ORDER BY {', '.join(key)}")  # noqa: S608 - fixed names
        with self._use() as db:
            cursor = db.execute(query)
            while True:
                batch = cursor.fetchmany(1000)
                if not batch:
                    return
                if table == "metadata":
                    batch = [(*row[:3], json.dumps(_joined_body(row[3], row[4]), sort_keys=True), *row[5:])
                             for row in batch]
                yield from batch

    def load_rows(self, rows: Iterable[Tuple[str, Sequence]]) -> None:
        """Insert (table, full row) pairs in one transaction: all of them, or (an exception) none. A metadata row
        is a logical one, as :meth:`rows` gives it (its body as JSON text or as a mapping)."""
        with self._use(write=True) as db:
            for table, row in rows:
                TABLE_KEYS[table]
                if table == "metadata":
                    body = row[3] if isinstance(row[3], Mapping) else json.loads(row[3])
                    _put_metadata(db, (*row[:3], body, *row[4:]), replace=False)
                else:
                    db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", tuple(row))  # noqa: S608

    def counts(self) -> Mapping[str, int]:
        """Rows per table, for ``--json`` summaries and tests."""
        tables = ("files", "metadata", "audits", "pages", "failures") + (("dependency_lists",) * (self.schema >= 3))
        with self._use() as db:
            return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                    for t in tables}


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch a new store to WAL. The switch needs the file to itself and SQLite answers "database is locked" at once
    (no busy handler) while another process is creating the same store, so it is retried up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _put_metadata(db: sqlite3.Connection, row: Sequence, *, replace: bool) -> None:
    """Write one logical metadata row (sha256, provenance, static, body mapping, recorded_at, recorded_by): its
    dependency list into ``dependency_lists`` unless that list is there already, the rest into ``metadata``. A
    list that the replaced row was the last to reference is deleted. Runs inside the caller's write transaction
    (BEGIN IMMEDIATE), so two processes recording the same list queue on the write lock and the second finds the
    first's row."""
    sha256, provenance, static, body, recorded_at, recorded_by = row
    facts, dependencies = split_metadata_body(body)
    list_id = _list_id(db, dependencies)
    old = db.execute("SELECT dependencies FROM metadata WHERE sha256 = ?", (sha256,)).fetchone() if replace else None
    db.execute(f"INSERT {'OR REPLACE ' if replace else ''}INTO metadata VALUES (?, ?, ?, ?, ?, ?, ?)",
               (sha256, provenance, static, facts, list_id, recorded_at, recorded_by))
    if old is None or old[0] != list_id:
        db.execute("UPDATE dependency_lists SET uses = uses + 1 WHERE id = ?", (list_id,))
        if old is not None:
            db.execute("UPDATE dependency_lists SET uses = uses - 1 WHERE id = ?", (old[0],))
            db.execute("DELETE FROM dependency_lists WHERE id = ? AND uses <= 0", (old[0],))


def _list_key(text: str) -> int:
    """The address of a dependency list: the first 8 bytes of the sha256 of its canonical JSON."""
    return int.from_bytes(hashlib.sha256(text.encode("ascii")).digest()[:8], "big", signed=True)


def _list_id(db: sqlite3.Connection, text: str) -> int:
    """The id of the dependency list ``text`` (canonical JSON), added (with no uses yet) when new. Another list at
    the same address (a 64-bit collision) moves this one to the next free id, so an id never names two lists; after
    such a collision a deleted list can cost a later one its sharing, never its correctness."""
    key = _list_key(text)
    while True:
        found = db.execute("SELECT body FROM dependency_lists WHERE id = ?", (key,)).fetchone()
        if found is None:
            db.execute("INSERT INTO dependency_lists VALUES (?, ?, 0)", (key, text))
            return key
        if found[0] == text:
            return key
        key = key + 1 if key < (1 << 63) - 1 else -(1 << 63)


def _split_metadata_bodies(db: sqlite3.Connection) -> None:
    """The schema 2 -> 3 upgrade, inside its transaction: every metadata body split into its per-file facts and its
    shared dependency list. A body that is not a JSON object stops the upgrade (nothing changes)."""
    db.execute("ALTER TABLE metadata RENAME TO metadata_schema_2")
    for statement in _METADATA_TABLES:
        db.execute(statement)
    old = db.execute("SELECT sha256, provenance, static, body, recorded_at, recorded_by FROM metadata_schema_2")
    while True:
        batch = old.fetchmany(1000)
        if not batch:
            break
        for row in batch:
            try:
                body = json.loads(row[3])
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise sqlite3.DatabaseError(f"the metadata of {row[0]} is not a JSON object; cannot upgrade")
            _put_metadata(db, (*row[:3], body, *row[4:]), replace=False)
    db.execute("DROP TABLE metadata_schema_2")


def split_metadata_body(body: Mapping) -> Tuple[str, str]:
    """(the per-file facts, the dependency list) of a metadata body, each as compact canonical JSON; the list holds
    the :data:`DEPENDENCY_KEYS` the body has, so :func:`_joined_body` gives back exactly the same mapping."""
    dependencies = {k: v for k, v in body.items() if k in DEPENDENCY_KEYS}
    facts = {k: v for k, v in body.items() if k not in DEPENDENCY_KEYS}
    return _compact_json(facts), _compact_json(dependencies)


def _joined_body(facts: str, dependencies: str) -> dict:
    """Inverse of :func:`split_metadata_body`."""
    return {**json.loads(facts), **json.loads(dependencies)}


def _compact_json(value: object) -> str:
    """Canonical JSON: sorted keys, no spaces, ASCII (equal values give equal text, and so equal hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE: take the write lock up front, so two writers queue on busy_timeout instead of one failing
    on upgrade from a read lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# ---------------------------------------------------------------------------------------------------------------------
# (de)serialising facts: JSON with stable keys, read back into the same frozen dataclasses


def text_sha256(text: str) -> str:
    """The sha256 of a page's text: a page fetched again in full with the same text keeps its parsed files."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_fresh(fetched_at: str, max_age: Optional[int]) -> bool:
    """A page stored at ``fetched_at`` with ``Cache-Control: max-age`` seconds of lifetime left is still fresh."""
    if max_age is None or max_age <= 0:
        return False
    try:
        stored = datetime.strptime(fetched_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return False
    age = (datetime.now(timezone.utc) - stored).total_seconds()
    return 0 <= age < max_age


def files_to_json(files: Sequence[DistFile]) -> str:
    """The parsed files of one page as compact JSON rows (their index is the page's, kept in its row)."""
    return json.dumps([[f.filename, f.url, f.kind, f.name, str(f.version), dict(f.hashes), f.size, f.requires_python,
                        f.yanked, None if f.core_metadata is None else dict(f.core_metadata), f.upload_time]
                       for f in files], separators=(",", ":"))


def files_from_json(text: str, index_url: str) -> List[DistFile]:
    """Inverse of :func:`files_to_json`; each distinct version string is parsed once (pages repeat them)."""
    from packaging.version import Version

    versions: dict = {}
    out = []
    for filename, url, kind, name, version, hashes, size, requires_python, yanked, core, upload_time in json.loads(text):
        parsed = versions.get(version)
        if parsed is None:
            parsed = versions[version] = Version(version)
        out.append(DistFile(filename, url, kind, name, parsed, hashes, size, requires_python, yanked, core, index_url,
                            upload_time))
    return out


def metadata_to_json(md: DistMetadata) -> dict:
    """The JSON ``wheelmeta metadata --json`` prints, plus the Metadata-Version: what the store keeps."""
    return {**md.to_json(), "metadata_version": md.metadata_version,
            "build_requires": [str(r) for r in md.build_requires]}


def metadata_from_json(body: Mapping) -> DistMetadata:
    """Inverse of :func:`metadata_to_json`; an entry that no longer parses is kept as a problem, not dropped."""
    return _metadata_from_parts(body, _dependency_part(body))


#: (requires_python, requires_dist, provides_extra, the problems met parsing them) of one dependency list
_DependencyPart = Tuple[Optional[SpecifierSet], Tuple[Requirement, ...], Tuple[str, ...], Tuple[str, ...]]


def _dependency_part(body: Mapping) -> _DependencyPart:
    """The :data:`DEPENDENCY_KEYS` of a body, parsed."""
    problems: List[str] = []
    requires_python = None
    if body.get("requires_python"):
        try:
            requires_python = SpecifierSet(body["requires_python"])
        except InvalidSpecifier:
            problems.append(f"stored Requires-Python {body['requires_python']!r} does not parse")
    requires_dist = _requirements(body.get("requires_dist", ()), problems)
    return requires_python, requires_dist, tuple(body.get("provides_extra", ())), tuple(problems)


@functools.lru_cache(maxsize=1024)
def _parsed_dependency_list(text: str) -> _DependencyPart:
    """A stored dependency list (canonical JSON), parsed once per process while it is among the last 1024 read: the
    files sharing it (a release's wheels, its sdist) share the parse, the costliest part of a read. The packaging
    objects are shared between the DistMetadata returned: wheelmeta never modifies one in place (it copies first)."""
    return _dependency_part(json.loads(text))


def _metadata_from_parts(body: Mapping, dependencies: _DependencyPart) -> DistMetadata:
    """A DistMetadata from a body's own facts and its parsed dependency list; problems in the order schema 2 gave:
    the stored ones, the list's, the build requirements'."""
    requires_python, requires_dist, provides_extra, list_problems = dependencies
    problems: List[str] = [*body.get("problems", ()), *list_problems]
    build_requires = _requirements(body.get("build_requires", ()), problems)  # before problems is frozen below
    test_requires = _requirements(body.get("test_requires", ()), problems)
    return DistMetadata(
        name=body["name"],
        version=body["version"],
        requires_python=requires_python,
        requires_dist=requires_dist,
        provides_extra=provides_extra,
        provenance=body["provenance"],
        problems=tuple(problems),
        source=body.get("file", ""),
        metadata_version=body.get("metadata_version"),
        build_requires=build_requires,
        test_requires=test_requires,
        isolation=body.get("isolation"),
        python_version=body.get("python_version"),
    )


def _requirements(texts: Sequence[str], problems: List[str]) -> Tuple[Requirement, ...]:
    out = []
    for text in texts:
        try:
            out.append(Requirement(text))
        except InvalidRequirement:
            problems.append(f"stored requirement {text!r} does not parse")
    return tuple(out)


def audit_from_json(body: Mapping) -> WheelAudit:
    """A WheelAudit from its stored JSON, rebuilt by the dataclasses' own field types (tuples, mappings, nested
    ElfFacts and named tuples), so a field added later reads back from a store written before it as its default."""
    return _from_fields(WheelAudit, body)


def _from_fields(cls, data: Mapping):
    hints = typing.get_type_hints(cls)
    values = {f.name: _coerce(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**values)


def _coerce(hint, value):
    """``value`` (from JSON) as the type ``hint`` names: lists become tuples, objects dataclasses or named tuples."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return _coerce(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        return tuple(_coerce(a, v) for a, v in zip(args, value))
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        return {k: _coerce(args[1], v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        types = typing.get_type_hints(hint)
        return hint(*(_coerce(types.get(name), v) for name, v in zip(hint._fields, value)))
    if dataclasses.is_dataclass(hint):
        return _from_fields(hint, value)
    return value
