"""``wheelmeta crawl``: fill the metadata store for many projects of an index, and pin it as a snapshot.

* :mod:`.tasks`: the facts of one file as a plain function of (settings, file), run anywhere;
* :mod:`.runners`: where those tasks run (local threads, a Dask distributed cluster);
* :mod:`.crawler`: the coordinator, the one store writer;
* :mod:`.snapshot`: deterministic export and validated import of the store's facts.

    >>> with MetadataStore.open() as store:                                               # doctest: +SKIP
    ...     report = crawl(store, ["requests"], index_urls=[index_url], latest=3)
    >>> export_snapshot(store, "crawl.jsonl.gz")["sha256"]                                # doctest: +SKIP
"""

from __future__ import annotations

from .crawler import CrawlReport, crawl, parse_since, select_releases
from .snapshot import export_snapshot, import_snapshot, is_snapshot
from .tasks import CrawlSettings, FileFacts, file_facts

__all__ = ["CrawlReport", "CrawlSettings", "FileFacts", "crawl", "export_snapshot", "file_facts", "import_snapshot",
           "is_snapshot", "parse_since", "select_releases"]
