"""Bytes saved by sharing dependency lists in the metadata store (schema 3) against one whole body per file (schema 2).

For each store given (schema 2 or 3, read through a consistent copy made with SQLite's backup API, so a store that
another process is still writing can be measured), it reports:

* metadata rows, distinct dependency lists (requires-dist, provides-extra, requires-python), and rows whose list is
  shared with at least one other row;
* releases (project, version in ``files``) with metadata of both an sdist and a wheel, and how many of them have the
  sdist's list equal to every wheel's list of that release (then they share one row);
* the database size after ``VACUUM`` with the same facts in three layouts: schema 2 as wheelmeta wrote it (the body
  as ``json.dumps(sort_keys=True)``), schema 2 with compact JSON (to separate what the shorter JSON saves from what
  sharing saves), and schema 3; and, from SQLite's ``dbstat``, the bytes of the metadata tables and their indexes
  alone.

Nothing is written to the stores measured: each layout is a copy in a temporary folder, deleted at the end.

    python benchmarks/bench_store_dedup.py ~/.cache/wheelmeta/store.sqlite
    python benchmarks/bench_store_dedup.py --crawl-mirrors /tmp/mirrors.sqlite   # crawl the local mirrors first
    python benchmarks/bench_store_dedup.py --json A.sqlite B.sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

#: The metadata tables and their indexes, by layout, as ``dbstat`` names them.
METADATA_OBJECTS = ("metadata", "sqlite_autoindex_metadata_1", "dependency_lists")
_SCHEMA_2_METADATA = ("CREATE TABLE metadata (sha256 TEXT PRIMARY KEY, provenance TEXT NOT NULL, static INTEGER NOT "
                      "NULL, body TEXT NOT NULL, recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL)")


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a live store (WAL included), through SQLite's backup API."""
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
            closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _logical_rows(path: Path) -> List[tuple]:
    from wheelmeta.store import MetadataStore

    with MetadataStore(path, readonly=True) as store:
        return list(store.rows("metadata"))


def _as_schema_2(path: Path, rows: List[tuple], compact: bool) -> None:
    """Rewrite the copy at ``path`` with the schema 2 metadata table holding ``rows`` (logical rows)."""
    separators = (",", ":") if compact else None
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DROP TABLE IF EXISTS metadata")
        db.execute("DROP TABLE IF EXISTS dependency_lists")
        db.execute(_SCHEMA_2_METADATA)
        db.executemany("INSERT INTO metadata VALUES (?, ?, ?, ?, ?, ?)",
                       [(*r[:3], json.dumps(json.loads(r[3]), sort_keys=True, separators=separators), *r[4:])
                        for r in rows])
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def _vacuumed_sizes(path: Path) -> Dict[str, Optional[int]]:
    """The whole file's size after VACUUM, and the bytes of the metadata tables and indexes (dbstat pages)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("VACUUM")
    try:
        marks = ", ".join("?" * len(METADATA_OBJECTS))
        part = db.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", METADATA_OBJECTS).fetchone()[0]
    except sqlite3.OperationalError:  # an SQLite built without dbstat
        part = None
    db.close()
    return {"file": path.stat().st_size, "metadata": part}


def _sharing(path: Path, rows: List[tuple]) -> dict:
    """Counts of rows, distinct lists, shared lists and sdist/wheel releases whose lists agree."""
    from wheelmeta.store import split_metadata_body

    list_of = {r[0]: split_metadata_body(json.loads(r[3]))[1] for r in rows}
    users: Dict[str, int] = defaultdict(int)
    for text in list_of.values():
        users[text] += 1
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        files = db.execute("SELECT sha256, project, version, kind FROM files").fetchall()
    releases: Dict[tuple, Dict[str, list]] = defaultdict(lambda: {"sdist": [], "wheel": []})
    for sha256, project, version, kind in files:
        if sha256 in list_of:
            releases[(project, version)][kind].append(list_of[sha256])
    both = [r for r in releases.values() if r["sdist"] and r["wheel"]]
    agree = sum(1 for r in both if len(set(r["sdist"] + r["wheel"])) == 1)
    wheels = [r["wheel"] for r in releases.values() if len(r["wheel"]) > 1]
    return {"metadata_rows": len(rows), "distinct_lists": len(users),
            "rows_sharing_a_list": sum(n for n in users.values() if n > 1),
            "list_bytes_per_row": round(sum(map(len, list_of.values())) / max(1, len(rows))),
            "releases_with_sdist_and_wheel": len(both), "sdist_and_wheels_share_one_list": agree,
            "releases_with_several_wheels": len(wheels),
            "all_wheels_share_one_list": sum(1 for w in wheels if len(set(w)) == 1)}


def _snapshot_estimate(rows: List[tuple]) -> dict:
    """Gzipped bytes of the snapshot's metadata lines as format 1 writes them (one whole body per file, by sha256),
    against the same facts with each list written once and referenced (what a format exporting
    ``dependency_lists`` would write): how much a snapshot would gain from carrying the sharing."""
    import gzip

    from wheelmeta.crawl.snapshot import _canonical
    from wheelmeta.store import _list_key, split_metadata_body

    logical, split, lists = [], [], {}
    for sha256, provenance, static, body, *_ in rows:
        logical.append(_canonical(["metadata", {"sha256": sha256, "provenance": provenance, "static": static,
                                                "body": json.loads(body)}]))
        facts, dependencies = split_metadata_body(json.loads(body))
        lists[_list_key(dependencies)] = dependencies
        split.append(_canonical(["metadata", {"sha256": sha256, "provenance": provenance, "static": static,
                                              "body": json.loads(facts), "dependencies": _list_key(dependencies)}]))
    split += [_canonical(["dependency_lists", {"id": key, "body": json.loads(text)}]) for key, text in sorted(
        lists.items())]
    return {"format-1": len(gzip.compress(b"".join(logical), mtime=0)),
            "lists-once": len(gzip.compress(b"".join(split), mtime=0))}


def measure(store: Path) -> dict:
    """Every figure for one store (see the module's docstring)."""
    from wheelmeta.store import MetadataStore

    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as folder:
        base = Path(folder) / "copy.sqlite"
        _copy(store, base)
        rows = _logical_rows(base)
        out = {"store": str(store), **_sharing(base, rows), "snapshot_metadata_gzip": _snapshot_estimate(rows),
               "sizes": {}}
        for layout in ("schema-2", "schema-2-compact", "schema-3"):
            target = Path(folder) / f"{layout}.sqlite"
            _copy(base, target)
            _as_schema_2(target, rows, compact=layout.endswith("compact"))
            if layout == "schema-3":
                started = time.perf_counter()
                MetadataStore(target).close()  # the in-place upgrade a user's store goes through
                out["upgrade_seconds"] = round(time.perf_counter() - started, 3)
                with MetadataStore(target, readonly=True) as converted:
                    assert list(converted.rows("metadata")) == rows, "the layouts must hold the same facts"
            out["sizes"][layout] = _vacuumed_sizes(target)
        for layout, micros in _read_times(Path(folder), [r[0] for r in rows]).items():
            out["sizes"][layout]["read_us"] = micros
    return out


def _read_times(folder: Path, keys: List[str], rounds: int = 5) -> Dict[str, float]:
    """Microseconds per ``MetadataStore.metadata(sha256)`` (a lock's read: the row, its list, the parse into a
    DistMetadata; schema 3 parses each distinct list once per process) over every row, per layout; the layouts take turns, round after round, and each keeps its best
    round, so the machine's load weighs on all alike."""
    from wheelmeta.store import MetadataStore, _parsed_dependency_list

    stores = {layout: MetadataStore(folder / f"{layout}.sqlite", readonly=True)
              for layout in ("schema-2", "schema-2-compact", "schema-3")}
    best = dict.fromkeys(stores, float("inf"))
    for _ in range(rounds):
        for layout, store in stores.items():
            _parsed_dependency_list.cache_clear()  # each round reads as a new process does: every list parsed once
            started = time.perf_counter()
            kept = [store.metadata(key) for key in keys]  # a lock keeps what it read
            best[layout] = min(best[layout], time.perf_counter() - started)
            del kept
    for store in stores.values():
        store.close()
    return {layout: round(seconds / max(1, len(keys)) * 1e6, 1) for layout, seconds in best.items()}


def crawl_mirrors(store: Path, jobs: int) -> None:
    """Fill ``store`` with the metadata of every wheel of the local mirrors (PEP 658, as bench_crawl.py does)."""
    import shutil

    from bench_crawl import _projects, _warm
    from indexserver import IndexServer

    names, wheels = _projects([Path(f) for f in ("/opt/pypi/files", "/opt/pypi-more/files") if Path(f).is_dir()], 0)
    only_wheels = Path(tempfile.mkdtemp(prefix="bench-dedup-wheels-"))
    try:
        for path in wheels:
            os.symlink(path, only_wheels / path.name)
        with IndexServer(only_wheels, fmt="json", pep658=True) as server:
            _warm(server, wheels)
            listing = only_wheels.parent / f"{only_wheels.name}.txt"
            listing.write_text("\n".join(names) + "\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
            env.update(PYTHONPATH=str(ROOT / "src"), PIP_CONFIG_FILE=os.devnull)
            subprocess.run([sys.executable, "-m", "wheelmeta", "-q", "crawl", "--from", str(listing), "-i",
                            server.index_url, "--store", str(store), "--jobs", str(jobs), "--rate", "0"],
                           env=env, check=True)
            listing.unlink()
    finally:
        shutil.rmtree(only_wheels, ignore_errors=True)


def _report(result: dict) -> None:
    sizes = result["sizes"]
    print(f"{result['store']}")
    print(f"  metadata rows {result['metadata_rows']}, distinct dependency lists {result['distinct_lists']}, "
          f"rows sharing their list with another {result['rows_sharing_a_list']}, list JSON "
          f"{result['list_bytes_per_row']} bytes per row")
    print(f"  releases with an sdist and a wheel: {result['releases_with_sdist_and_wheel']}, of which one list for "
          f"all: {result['sdist_and_wheels_share_one_list']}; releases with several wheels: "
          f"{result['releases_with_several_wheels']}, of which one list for all: {result['all_wheels_share_one_list']}")
    snapshot = result["snapshot_metadata_gzip"]
    print(f"  snapshot metadata lines, gzip: {snapshot['format-1']:,} bytes as format 1 writes them, "
          f"{snapshot['lists-once']:,} with each list once ({snapshot['lists-once'] / snapshot['format-1'] - 1:+.1%})")
    old = sizes["schema-2"]
    print(f"  {'layout':<18} {'file after VACUUM':>18} {'metadata tables':>16} {'saved (file)':>13} "
          f"{'saved (metadata)':>17} {'µs per metadata()':>18}")
    for layout, size in sizes.items():
        part = size["metadata"]
        saved = None if part is None or old["metadata"] is None else 1 - part / old["metadata"]
        print(f"  {layout:<18} {size['file']:>18,} {part if part is not None else 'n/a':>16,} "
              f"{1 - size['file'] / old['file']:>12.1%} {'n/a' if saved is None else f'{saved:.1%}':>17} "
              f"{size['read_us']:>18}")
    print(f"  upgrade 2 -> 3 of the copy: {result['upgrade_seconds']} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="*", type=Path, metavar="STORE", help="a store.sqlite (schema 2 or 3)")
    parser.add_argument("--crawl-mirrors", type=Path, metavar="STORE",
                        help="first crawl every wheel of the local mirrors into STORE (created or completed), "
                        "then measure it")
    parser.add_argument("--jobs", type=int, default=8, help="crawl --jobs for --crawl-mirrors (default 8)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    stores = list(args.stores)
    if args.crawl_mirrors:
        crawl_mirrors(args.crawl_mirrors, args.jobs)
        stores.insert(0, args.crawl_mirrors)
    if not stores:
        parser.error("name a STORE, or --crawl-mirrors STORE")
    results = [measure(store) for store in stores]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            _report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
