"""Does a release's sdist declare the dependencies its wheels declare? Measured on a sample of the default index.

1. **Sample.** The project pages (PEP 691 JSON, with upload times) of every project of ``--projects`` (default
   ``benchmarks/sdist_vs_wheel_projects.txt``) are read from pip's built-in default index
   (``wheelmeta.index.config.pip_default_index_url()``). A release qualifies when it has a non-yanked sdist and at
   least one non-yanked wheel, the sdist is at most ``--max-sdist-mb`` and the release has at most ``--max-files``
   files. Releases are bucketed by the year of their sdist's upload (2012..2026); from each bucket up to
   ``--per-year`` are taken, at most one per project, projects in the order of sha256("year:project") and, for a
   project, its release of smallest sha256("project==version"): deterministic for a given index state, spread over
   projects (and so over build backends), not biased to any release.
2. **Crawl.** Exactly those releases (every file) are crawled into the store ``--store`` with
   :func:`wheelmeta.crawl.crawl` (``versions=``): wheel metadata by PEP 658, sdists through the sdist chain, setup.py
   in the sandbox. A failed sdist is a fact (``sdist-unreadable``), not dropped.
3. **Compare.** :func:`wheelmeta.crawl.compare.compare_store` (what ``wheelmeta crawl --compare`` runs) over the
   sample; printed: counts and shares per class, per year bucket, per build backend, per sdist provenance and per
   interpreter that answered setup.py; ``--json FILE`` writes the per-release records.

``--python PATH`` (repeatable: the interpreter setup.py runs under, then fallbacks tried in order where it fails)
and ``--allow-build`` (the PEP 517 hook, build requirements from the same index) are the crawl's options.

    python benchmarks/sdist_vs_wheel.py --store /tmp/svw/store.sqlite --per-year 28 --jobs 4 \\
        --python "$(command -v python3.11)" --python PY39 --python PY36 --python PY27 --allow-build --json svw.json
    python benchmarks/sdist_vs_wheel.py --store STORE --no-crawl        # compare what the store holds again
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

YEARS = range(2012, 2027)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _pages(projects: List[str], index_url: str, jobs: int, rate: float) -> Dict[str, list]:
    """project -> its files on the index (a page that fails is reported and left out of the sample)."""
    from tqdm import tqdm

    from wheelmeta.errors import WheelmetaError
    from wheelmeta.http import HostRateLimit, HttpClient
    from wheelmeta.index.simple import IndexClient

    client = HttpClient(rate_limit=HostRateLimit(rate) if rate > 0 else None)
    index = IndexClient([index_url], (), client)
    out: Dict[str, list] = {}

    def listing(project: str):
        files = index.files(project)
        index._cache.clear()  # one read each: keep no listing in memory twice
        return files

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool, tqdm(total=len(projects), desc="pages",
                                                                   unit="page") as bar:
        futures = {pool.submit(listing, p): p for p in projects}
        for future in concurrent.futures.as_completed(futures):
            bar.update()
            try:
                out[futures[future]] = future.result()
            except WheelmetaError as exc:
                print(f"sdist_vs_wheel: page of {futures[future]}: {exc}", file=sys.stderr)
    return out


def _candidates(files: list, max_sdist: int, max_files: int) -> List[Tuple[str, int]]:
    """(version, sdist upload year) of each release that qualifies (see the module)."""
    by_version = collections.defaultdict(list)
    for f in files:
        by_version[str(f.version)].append(f)
    out = []
    for version, group in by_version.items():
        sdists = [f for f in group if f.kind == "sdist" and not f.is_yanked and f.upload_time]
        wheels = [f for f in group if f.kind == "wheel" and not f.is_yanked]
        if not sdists or not wheels or len(group) > max_files:
            continue
        if any((f.size or 0) > max_sdist for f in sdists):
            continue
        out.append((version, int(min(f.upload_time for f in sdists)[:4])))
    return out


def select_sample(pages: Dict[str, list], per_year: int, max_sdist: int, max_files: int) -> Dict[int, List[tuple]]:
    """year -> [(project, version)] (see the module for the rule)."""
    by_year: Dict[int, Dict[str, List[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for project, files in pages.items():
        for version, year in _candidates(files, max_sdist, max_files):
            by_year[year][project].append(version)
    sample: Dict[int, List[tuple]] = {}
    for year in YEARS:
        projects = sorted(by_year.get(year, {}), key=lambda p: _key(f"{year}:{p}"))[:per_year]
        sample[year] = sorted((p, min(by_year[year][p], key=lambda v: _key(f"{p}=={v}"))) for p in projects)
    return sample


def _crawl(store_path: Path, sample: Dict[int, List[tuple]], index_url: str, jobs: int, rate: float,
           pythons: Tuple[str, ...], allow_build: bool) -> dict:
    from tqdm import tqdm

    from wheelmeta.crawl import CrawlSettings, crawl
    from wheelmeta.store import MetadataStore

    versions: Dict[str, set] = collections.defaultdict(set)
    for releases in sample.values():
        for project, version in releases:
            versions[project].add(version)
    with MetadataStore(store_path) as store, tqdm(desc="crawl", unit="file") as bar:
        report = crawl(store, sorted(versions), index_urls=[index_url], settings=CrawlSettings(rate=rate, pythons=pythons, allow_build=allow_build),
                       jobs=jobs, versions=versions, on_queued=lambda n: setattr(bar, "total", (bar.total or 0) + n),
                       on_file=lambda facts: bar.update())
    return report.to_json()


def _table(title: str, groups: Dict[str, list], classes: List[str]) -> None:
    print(f"\n{title}")
    print(f"{'':<26}{'n':>5}" + "".join(f"{c[:14]:>16}" for c in classes))
    for name, records in groups.items():
        n = len(records)
        counts = collections.Counter(r.klass for r in records)
        print(f"{name:<26}{n:>5}" + "".join(f"{counts[c]:>6} {100 * counts[c] / n:5.1f}%   " for c in classes))


def report(records: list) -> None:
    """The figures: per class overall, per sdist upload year, per build backend."""
    order = ["identical-text", "equal", "sdist-incomplete", "wheel-without-requirements", "platform-dependent", "python-at-build-time",
             "upload-gap", "extras-only", "specifier-only", "other", "sdist-unreadable", "no-common-target"]
    total = len(records)
    counts = collections.Counter(r.klass for r in records)
    print(f"\n{total} releases compared")
    for name in order + sorted(set(counts) - set(order)):
        if counts[name]:
            print(f"  {name:<28}{counts[name]:>5}  {100 * counts[name] / total:5.1f}%")
    agree = counts["identical-text"] + counts["equal"]
    readable = total - counts["sdist-unreadable"] - counts["no-common-target"]
    if readable:
        print(f"  agree (identical or equal on the grid): {agree} of {readable} readable sdists "
              f"({100 * agree / readable:.1f}%)")
    setuptools = [r for r in records if r.backend.startswith(("legacy setup.py", "setuptools"))]
    agreeing = sum(r.verdict in ("identical-text", "equal") for r in setuptools)
    print(f"  setuptools sdists (legacy setup.py, setuptools with setup.py or declarative): {agreeing} of "
          f"{len(setuptools)} agree ({100 * agreeing / max(len(setuptools), 1):.1f}%)")
    ran = [r for r in records if r.differs_where_run is not None]
    if ran:
        print(f"  of {len(ran)} differing setup.py sdists compared where their setup.py ran (its Python, Linux), "
              f"{sum(not r.differs_where_run for r in ran)} agree there")
    present = [c for c in order if counts[c]]
    by_year = collections.defaultdict(list)
    by_backend = collections.defaultdict(list)
    for r in records:
        by_year[(r.sdist_uploaded or "????")[:4]].append(r)
        by_backend[r.backend or "(sdist unreadable)"].append(r)
    _table("by sdist upload year", dict(sorted(by_year.items())), present)
    _table("by build backend", dict(sorted(by_backend.items(), key=lambda kv: -len(kv[1]))), present)
    by_provenance = collections.defaultdict(list)
    by_python = collections.defaultdict(list)
    for r in records:
        by_provenance[r.sdist_provenance or "(sdist unreadable)"].append(r)
        if r.sdist_python:  # the interpreter whose setup.py answer this is (a fallback's, where the first failed)
            by_python[f"setup.py under {'.'.join(r.sdist_python.split('.')[:2])}"].append(r)
    _table("by sdist provenance", dict(sorted(by_provenance.items(), key=lambda kv: -len(kv[1]))), present)
    _table("by the interpreter that answered", dict(sorted(by_python.items())), present)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=Path, default=ROOT / "benchmarks" / "sdist_vs_wheel_projects.txt")
    parser.add_argument("--store", type=Path, required=True, help="the store to fill (a folder outside the repo)")
    parser.add_argument("--per-year", type=int, default=30, help="releases per sdist upload year (default 30)")
    parser.add_argument("--max-sdist-mb", type=float, default=40.0)
    parser.add_argument("--max-files", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second per host (default 10)")
    parser.add_argument("--python", action="append", metavar="PATH",
                        help="interpreter setup.py runs under (default: this one); repeat it for fallbacks, tried in "
                        "order where setup.py fails under the one before")
    parser.add_argument("--allow-build", action="store_true", help="run the PEP 517 hook of sdists setup.py "
                        "cannot answer for (build requirements from the same index)")
    parser.add_argument("--no-crawl", action="store_true", help="compare the sample the store already holds")
    parser.add_argument("--json", type=Path, help="write the per-release records here")
    args = parser.parse_args(argv)

    from wheelmeta.crawl.compare import compare_store
    from wheelmeta.index.config import pip_default_index_url
    from wheelmeta.store import MetadataStore

    index_url = pip_default_index_url()
    started = time.monotonic()
    sample_file = args.store.parent / "sample.json"
    if args.no_crawl:
        sample = {int(y): [tuple(r) for r in rs] for y, rs in json.loads(sample_file.read_text()).items()}
    else:
        names = [n.split("#")[0].strip() for n in args.projects.read_text().splitlines()]
        pages = _pages([n for n in names if n], index_url, args.jobs * 2, args.rate)
        sample = select_sample(pages, args.per_year, int(args.max_sdist_mb * 1e6), args.max_files)
        del pages
        args.store.parent.mkdir(parents=True, exist_ok=True)
        sample_file.write_text(json.dumps({str(y): rs for y, rs in sample.items()}, indent=1))
    for year, releases in sample.items():
        print(f"{year}: {len(releases)} releases", file=sys.stderr)
    if not args.no_crawl:
        summary = _crawl(args.store, sample, index_url, args.jobs, args.rate, tuple(args.python or ()),
                         args.allow_build)
        print(f"crawl: {summary['files_done']} files, {summary['requests']} requests, {summary['seconds']} s, "
              f"{len(summary['failures'])} failures", file=sys.stderr)
    chosen = {(p, v) for releases in sample.values() for p, v in releases}
    with MetadataStore(args.store, readonly=True) as store:
        records = [r for r in compare_store(store, {p for p, _ in chosen}) if (r.project, r.version) in chosen]
    print(f"sample: {len(chosen)} releases; compared: {len(records)}; "
          f"{time.monotonic() - started:.0f} s in all", file=sys.stderr)
    report(records)
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in records], indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
