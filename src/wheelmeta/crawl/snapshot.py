"""Snapshots of the metadata store: one deterministic, compressed file to pin a crawl, and its validated import.

The file is gzip (no name, mtime 0) of canonical JSON lines (sorted keys, no spaces, UTF-8):

* line 1, the header: ``format`` ``"wheelmeta-snapshot"``, ``format_version``, the store's ``schema_version``,
  the ``indexes`` crawled, the crawl's date range ``crawled: {from, to}``, row counts per table, and
  ``content_sha256``, the sha256 of every following line (newlines included);
* then one ``[table, row]`` line per fact, tables in :data:`~wheelmeta.store.TABLE_KEYS` order, rows by key.

Facts only: when a row was written and by which wheelmeta are left out (the header's date range says when the crawl
ran), so the same facts always give the same bytes. Importing reads JSON and inserts values; nothing in a snapshot is
ever evaluated or run, and every line is checked (shape, types, hashes, known provenances, order, counts, the
content hash) before the store it fills is used. A snapshot that fails any check is one :class:`StoreError` naming
the file and the line.

    >>> export_snapshot(store, "crawl.jsonl.gz")["sha256"]                  # doctest: +SKIP
    >>> import_snapshot("crawl.jsonl.gz", tmp / "store.sqlite")             # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tempfile
import zlib
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from ..errors import StoreError

if TYPE_CHECKING:  # pragma: no cover
    from ..store import MetadataStore

__all__ = ["export_snapshot", "import_snapshot", "is_snapshot", "FORMAT", "FORMAT_VERSION"]

FORMAT = "wheelmeta-snapshot"
FORMAT_VERSION = 1
#: Longest line accepted on import (a page body or a big audit); bounds memory for a hostile file.
MAX_LINE = 64 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STR, _INT, _OPT_STR, _OPT_INT = (str,), (int,), (str, type(None)), (int, type(None))

#: Per table: the snapshot's columns with their types, and the store columns left out of it (written on import).
_COLUMNS: Dict[str, Tuple[Tuple[str, tuple], ...]] = {
    "files": (("sha256", _STR), ("filename", _STR), ("project", _STR), ("version", _STR), ("kind", _STR),
              ("size", _OPT_INT), ("requires_python", _OPT_STR), ("upload_time", _OPT_STR), ("yanked", _OPT_STR),
              ("url", _STR), ("index_url", _STR)),
    "metadata": (("sha256", _STR), ("provenance", _STR), ("static", _INT), ("body", (dict,))),
    "audits": (("sha256", _STR), ("body", (dict,))),
    "pages": (("url", _STR), ("project", _STR), ("index_url", _STR), ("final_url", _STR), ("content_type", _STR),
              ("body", _STR), ("etag", _OPT_STR), ("last_modified", _OPT_STR)),
    "failures": (("sha256", _STR), ("step", _STR), ("reason", _STR)),
}
#: The store's columns not in the snapshot, by table: "when" and "who" columns.
_STAMPS = {"files": (), "metadata": ("recorded_at", "recorded_by"), "audits": ("recorded_at", "recorded_by"),
           "pages": ("fetched_at",), "failures": ("recorded_at",)}
_STORE_ORDER = {
    "files": ("sha256", "filename", "project", "version", "kind", "size", "requires_python", "upload_time", "yanked",
              "url", "index_url"),
    "metadata": ("sha256", "provenance", "static", "body", "recorded_at", "recorded_by"),
    "audits": ("sha256", "body", "recorded_at", "recorded_by"),
    "pages": ("url", "project", "index_url", "final_url", "content_type", "body", "etag", "last_modified", "fetched_at",
              "files", "body_sha256", "max_age"),
    "failures": ("sha256", "step", "reason", "recorded_at"),
}
#: Store columns derived from others (a page's parsed files, its hash, its freshness): not exported, NULL on import,
#: so a store rebuilds them from the page itself (an imported page is never fresh: --offline reads it as it is)
_DERIVED = {"pages": ("files", "body_sha256", "max_age")}


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


# -- export ------------------------------------------------------------------------------------------------------------


def _fact_lines(store: "MetadataStore", stamps: Dict[str, List[str]]) -> Iterator[Tuple[str, bytes]]:
    """(table, canonical line) of every fact; the time stamps left out are collected into ``stamps``."""
    for table, columns in _COLUMNS.items():
        wanted = [n for n, _ in columns]
        for row in store.rows(table):
            values = dict(zip(_STORE_ORDER[table], row))
            for stamp in _STAMPS[table]:
                if stamp != "recorded_by" and values[stamp]:
                    stamps.setdefault(table, []).append(values[stamp])
            out = {name: values[name] for name in wanted}
            if "body" in out and table in ("metadata", "audits"):
                out["body"] = json.loads(out["body"])
            yield table, _canonical([table, out])


def export_snapshot(store: "MetadataStore", path: Union[str, os.PathLike]) -> dict:
    """Write the store's facts to ``path`` (next to it first, then renamed); return the header with the file's own
    ``sha256`` added."""
    digest, counts, stamps = hashlib.sha256(), {t: 0 for t in _COLUMNS}, {}
    indexes = set()
    for table, line in _fact_lines(store, stamps):  # first pass: the content hash the header carries
        digest.update(line)
        counts[table] += 1
        if table in ("files", "pages"):
            indexes.add(json.loads(line)[1]["index_url"])
    times = sorted(t for values in stamps.values() for t in values)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": _schema_version(),
              "indexes": sorted(indexes), "crawled": {"from": times[0] if times else None,
                                                      "to": times[-1] if times else None},
              "rows": counts, "content_sha256": digest.hexdigest()}
    target = Path(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=".snapshot-", dir=target.resolve().parent)
    except OSError as exc:
        raise StoreError(target, f"cannot write here: {exc.strerror or exc}") from None
    whole = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=_Hashing(raw, whole), mtime=0) as out:
                out.write(_canonical(header))
                check = hashlib.sha256()
                for _, line in _fact_lines(store, {}):
                    check.update(line)
                    out.write(line)
        if check.hexdigest() != header["content_sha256"]:
            raise StoreError(store.path, "the store changed while it was exported; export again")
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return {**header, "sha256": whole.hexdigest()}


class _Hashing:
    """A write-only file object that hashes what it passes on (the snapshot file's own sha256)."""

    def __init__(self, f, digest) -> None:
        self._f, self._digest = f, digest

    def write(self, data) -> int:
        self._digest.update(data)
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()


def _schema_version() -> int:
    from ..store import SCHEMA_VERSION

    return SCHEMA_VERSION


# -- import ------------------------------------------------------------------------------------------------------------


def is_snapshot(path: Union[str, os.PathLike]) -> bool:
    """True when ``path`` starts like a gzip file (a snapshot); an SQLite store starts otherwise."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def import_snapshot(path: Union[str, os.PathLike], store_path: Union[str, os.PathLike]) -> dict:
    """Validate the snapshot at ``path`` and load it into a new store at ``store_path`` (which must not exist);
    return its header. Any problem is a StoreError naming the snapshot and the line; the new store is then removed.
    """
    from ..store import MetadataStore

    store_path = Path(store_path)
    if store_path.exists():
        raise StoreError(store_path, "already exists; a snapshot is imported into a new store")
    reader = _SnapshotReader(Path(path))
    try:
        with reader, MetadataStore(store_path) as store:
            header = reader.header()
            store.load_rows(reader.rows(header))
    except BaseException:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        raise
    return header


class _SnapshotReader:
    """Reads and checks one snapshot line by line (bounded memory: one line at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line_number = 0
        try:
            self._file = gzip.open(path, "rb")
        except OSError as exc:
            raise StoreError(path, f"cannot read the snapshot: {exc.strerror or exc}") from None

    def __enter__(self) -> "_SnapshotReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def _fail(self, reason: str) -> StoreError:
        return StoreError(f"{self.path}:{self.line_number}", f"not a valid wheelmeta snapshot: {reason}")

    def _next_line(self) -> Optional[bytes]:
        try:
            line = self._file.readline(MAX_LINE + 1)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise self._fail(f"damaged compression ({exc})") from None
        if not line:
            return None
        self.line_number += 1
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise self._fail("a line longer than the limit, or a last line without its newline")
        return line

    def _json(self, line: bytes) -> object:
        try:
            return json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise self._fail(f"not JSON ({exc})") from None

    def header(self) -> dict:
        line = self._next_line()
        header = self._json(line) if line else None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self._fail("no snapshot header")
        if header.get("format_version") != FORMAT_VERSION:
            raise self._fail(f"format version {header.get('format_version')!r}; this wheelmeta reads {FORMAT_VERSION}")
        schema = header.get("schema_version")
        if not isinstance(schema, int) or isinstance(schema, bool) or not 1 <= schema <= _schema_version():
            raise self._fail(f"store schema {schema!r} is not one this wheelmeta knows")
        rows, crawled, indexes = header.get("rows"), header.get("crawled"), header.get("indexes")
        if (not isinstance(rows, dict) or set(rows) != set(_COLUMNS)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in rows.values())):
            raise self._fail("header 'rows' must count the rows of each table")
        if not isinstance(crawled, dict) or set(crawled) != {"from", "to"} or not all(
                isinstance(v, (str, type(None))) for v in crawled.values()):
            raise self._fail("header 'crawled' must be {from, to}")
        if not isinstance(indexes, list) or not all(isinstance(i, str) for i in indexes):
            raise self._fail("header 'indexes' must be a list of URLs")
        if not isinstance(header.get("content_sha256"), str) or not _SHA256.fullmatch(header["content_sha256"]):
            raise self._fail("header 'content_sha256' must be a sha256")
        return header

    def rows(self, header: Mapping) -> Iterator[Tuple[str, tuple]]:
        """Each fact as (table, store row), checked; at the end the counts and the content hash."""
        digest, counts = hashlib.sha256(), {t: 0 for t in _COLUMNS}
        order = list(_COLUMNS)
        last: Tuple[int, tuple] = (0, ())
        stamp = header["crawled"]["to"] or ""
        recorded_by = f"snapshot {header['content_sha256'][:16]}"
        while True:
            line = self._next_line()
            if line is None:
                break
            digest.update(line)
            table, row = self._fact(self._json(line))
            position = (order.index(table), tuple(row[k] for k in _key_of(table)))
            if position <= last:
                raise self._fail("rows out of order or repeated (tables in order, each by its key)")
            last = position
            counts[table] += 1
            stamps = {"recorded_at": stamp, "fetched_at": stamp, "recorded_by": recorded_by}
            values = {**row, **stamps, **dict.fromkeys(_DERIVED.get(table, ()))}
            if table == "audits":  # a metadata body goes to the store as it is: the store splits it
                values["body"] = json.dumps(row["body"], sort_keys=True)
            yield table, tuple(values[c] for c in _STORE_ORDER[table])
        if counts != header["rows"]:
            raise self._fail(f"row counts {counts} differ from the header's {header['rows']}")
        if digest.hexdigest() != header["content_sha256"]:
            raise self._fail(f"content sha256 {digest.hexdigest()} differs from the header's "
                             f"{header['content_sha256']}")

    def _fact(self, value: object) -> Tuple[str, dict]:
        if not (isinstance(value, list) and len(value) == 2 and value[0] in _COLUMNS and isinstance(value[1], dict)):
            raise self._fail("a fact line must be [table, row] with a known table")
        table, row = value
        columns = _COLUMNS[table]
        if set(row) != {name for name, _ in columns}:
            raise self._fail(f"{table} row must have exactly the columns {[n for n, _ in columns]}")
        for name, types in columns:
            if not isinstance(row[name], types) or isinstance(row[name], bool):
                raise self._fail(f"{table}.{name} has the wrong type ({type(row[name]).__name__})")
        _CHECKS[table](row, self._fail)
        return table, row


def _key_of(table: str) -> Tuple[str, ...]:
    from ..store import TABLE_KEYS

    return TABLE_KEYS[table]


def _check_sha256(row: Mapping, fail: Callable[[str], StoreError]) -> None:
    if not _SHA256.fullmatch(row["sha256"]):
        raise fail(f"{row['sha256']!r} is not a lower-case sha256")


def _check_file(row: Mapping, fail) -> None:
    _check_sha256(row, fail)
    if row["kind"] not in ("wheel", "sdist"):
        raise fail(f"file kind {row['kind']!r} is neither wheel nor sdist")
    if row["size"] is not None and row["size"] < 0:
        raise fail("a negative file size")


def _check_metadata(row: Mapping, fail) -> None:
    from ..model import PROVENANCES, STATIC_PROVENANCES
    from ..store import metadata_from_json

    _check_sha256(row, fail)
    if row["provenance"] not in PROVENANCES or row["body"].get("provenance") != row["provenance"]:
        raise fail(f"unknown or inconsistent provenance {row['provenance']!r}")
    if row["static"] != int(row["provenance"] in STATIC_PROVENANCES):
        raise fail("'static' disagrees with the provenance")
    _rebuilds(metadata_from_json, row["body"], "metadata", fail)


def _check_audit(row: Mapping, fail) -> None:
    from ..store import audit_from_json

    _check_sha256(row, fail)
    body = row["body"]
    if set(body) != {"audit", "modules"} or not isinstance(body["modules"], list) or not all(
            isinstance(m, str) for m in body["modules"]) or not isinstance(body["audit"], dict):
        raise fail("an audit body must be {audit, modules}")
    _rebuilds(audit_from_json, body["audit"], "audit", fail)


def _rebuilds(build: Callable, body: Mapping, what: str, fail) -> None:
    """The body must read back into wheelmeta's own dataclass, as a lock would read it."""
    try:
        build(body)
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as exc:
        raise fail(f"a {what} body that does not read back ({type(exc).__name__}: {exc})") from None


def _check_failure(row: Mapping, fail) -> None:
    _check_sha256(row, fail)


def _check_page(row: Mapping, fail) -> None:
    if not row["url"].endswith("/") or not row["project"]:
        raise fail(f"page {row['url']!r} is not a project page URL")


_CHECKS = {"files": _check_file, "metadata": _check_metadata, "audits": _check_audit, "pages": _check_page,
           "failures": _check_failure}
