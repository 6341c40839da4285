"""The crawl's parsers of outside bytes as fuzz targets: snapshot import, and an index's project list (``--all``).

Registered in ``TARGETS`` of ``tests/fuzz_targets.py`` as::

    FuzzTarget("snapshot", fuzz_crawl.snapshot_seeds, fuzz_crawl.run_snapshot, layer=(gzip.decompress, _gzip)),
    FuzzTarget("project-list", fuzz_crawl.project_list_seeds, fuzz_crawl.run_project_list, text=True),

``layer`` makes the harness mutate the JSON lines inside the gzip, not the compressed bytes only. Until then,
``tests/test_crawl.py`` runs its own fixed-seed rounds over the same functions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import List

from builders import make_wheel

from wheelmeta.crawl import export_snapshot, import_snapshot


def snapshot_seeds(folder: Path) -> List[bytes]:
    """Two snapshots written by the exporter: an empty store, and one with a row in every table (metadata of a
    real wheel and of an sdist declaring the same dependency list, an audit of the wheel, a page, a file, a
    failure)."""
    from packaging.requirements import Requirement

    from wheelmeta import audit_wheel, read_metadata
    from wheelmeta.http import Page
    from wheelmeta.index.simple import dist_file_from_filename
    from wheelmeta.store import MetadataStore

    seeds = []
    wheel = make_wheel(folder, "seed", "1.0", requires=['idna; extra == "x"', "six>=1"], requires_python=">=3.8")
    sha256 = "ab" * 32
    for filled in (False, True):
        store_path = folder / f"seed-{filled}.sqlite"
        with MetadataStore(store_path) as store:
            if filled:
                dist = dist_file_from_filename(wheel.name, "http://127.0.0.1:9/files/" + wheel.name,
                                               hashes={"sha256": sha256}, size=wheel.stat().st_size,
                                               index="http://127.0.0.1:9/simple")
                store.record_files([dist])
                store.record_metadata(sha256, read_metadata(str(wheel)))
                # the sdist of the same release: its list is shared with the wheel's in the store, its build
                # requirements are its own, so the import's split and sharing are mutated too
                store.record_metadata("ef" * 32, dataclasses.replace(
                    read_metadata(str(wheel)), provenance="setup-py-sandboxed",
                    build_requires=(Requirement("setuptools>=61"),), problems=("a problem kept",)))
                store.record_audit(sha256, audit_wheel(str(wheel)), ["seed"])
                store.record_failure("cd" * 32, "metadata", "InvalidSdist: not a tar archive")
                body = json.dumps({"meta": {"api-version": "1.1"}, "name": "seed", "files": []})
                store.record_page("http://127.0.0.1:9/simple/seed/", "seed", "http://127.0.0.1:9/simple",
                                  Page("http://127.0.0.1:9/simple/seed/", "application/vnd.pypi.simple.v1+json", body,
                                       etag='"e1"'))
            export_snapshot(store, folder / f"seed-{filled}.jsonl.gz")
        seeds.append((folder / f"seed-{filled}.jsonl.gz").read_bytes())
    return seeds


def run_snapshot(data: bytes, scratch: Path) -> None:
    """Import one snapshot file into a new store, as ``lock --store FILE --offline`` does."""
    (scratch / "in.jsonl.gz").write_bytes(data)
    store = scratch / "imported.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    import_snapshot(scratch / "in.jsonl.gz", store)


def project_list_seeds(folder: Path) -> List[bytes]:
    """An index root page in each form: PEP 691 JSON (first byte ``{``) and PEP 503 HTML."""
    names = ["Absl-Py", "numpy", "zope.interface"]
    return [json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}).encode(),
            ("<!DOCTYPE html><html><body>" + "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
             + "</body></html>").encode()]


def run_project_list(data: bytes, scratch: Path) -> None:
    """Parse one root page as the index client does, in the form its first byte suggests."""
    from wheelmeta.index.simple import JSON_TYPE, parse_project_list

    text = data.decode("utf-8", "replace")
    kind = JSON_TYPE if text.lstrip().startswith("{") else "text/html"
    parse_project_list(text, kind, "http://127.0.0.1:9/simple/")
