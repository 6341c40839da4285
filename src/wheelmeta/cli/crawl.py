"""``wheelmeta crawl``."""

from __future__ import annotations

import argparse
import collections
import re
import sys
from typing import Dict, List, Set, Tuple

from ..errors import UsageError
from .choose import add_index_options
from .common import ProgressBar, add_python_option, add_store_options, print_json, require_file

#: PEP 508 project names (packaging's own rule).
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
#: What an index may list as a version (legacy versions included): no spaces, no separators of requirements.
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "crawl",
        help="fill the metadata store with the facts of every file of many projects; export it as a snapshot",
        description="For every file of the selected releases of each project on the configured index: its "
        "metadata with provenance (PEP 658, range reads, the sdist chain in the sandbox), hash, size, upload time, "
        "yanked state and requires-python, and with --scan the ELF facts of Linux wheels, into the metadata store "
        "that `wheelmeta lock` reads. Files already in the store are skipped, so an interrupted crawl resumes and "
        "a re-crawl of an unchanged project costs one conditional request. --export writes the store as a "
        "deterministic snapshot that `wheelmeta lock --store FILE --offline` resolves from.",
    )
    p.add_argument("projects", nargs="*", metavar="PROJECT",
                   help="a project name on the index, or PROJECT==VERSION for that release only (repeatable)")
    p.add_argument("--from", dest="from_file", metavar="FILE",
                   help="read project names from FILE, one a line ('#' comments)")
    p.add_argument("--all", action="store_true",
                   help="every project the indexes list on their root page (PEP 691 JSON or PEP 503 HTML)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--latest", type=int, metavar="N", help="only the N newest releases of each project")
    g.add_argument("--since", metavar="DATE", help="only releases with a file uploaded since DATE (YYYY-MM-DD or "
                   "ISO 8601); releases the index gives no upload time for are crawled")
    p.add_argument("--scan", action="store_true", help="also scan Linux wheels (ELF facts, by range reads)")
    add_python_option(p)
    p.add_argument("--allow-build", action="store_true",
                   help="let an sdist without static metadata or a setup.py answer run its PEP 517 hook in the "
                   "sandbox (installs its build requirements from the crawl's index)")
    p.add_argument("--jobs", type=int, default=8, metavar="N", help="files worked on at once (default %(default)s)")
    p.add_argument("--rate", type=float, default=10.0, metavar="R",
                   help="at most R requests per second to each host, per process (default %(default)s; 0: no limit)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the per-file tasks on a Dask distributed scheduler (tcp://host:8786); this process "
                   "stays the one store writer. Needs wheelmeta[crawl]")
    p.add_argument("--export", metavar="FILE",
                   help="after crawling (or alone), write the store as a deterministic snapshot (gzip of canonical "
                   "JSON lines with its content sha256 and the crawl's date range in a header)")
    p.add_argument("--compare", action="store_true",
                   help="instead of crawling, compare from the store (no network) each release's sdist "
                   "dependencies with its wheels' over a grid of targets (the PROJECTs named, or all), and classify "
                   "every disagreement; see docs/sdist-vs-wheel.md")
    add_store_options(p, "the SQLite store to fill (default: the cache folder's)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_index_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..crawl import CrawlSettings, crawl, export_snapshot, parse_since
    from ..index.config import IndexConfig
    from ..store import MetadataStore, default_store_path

    projects, versions = _projects(args)
    if args.compare:
        return _compare(args, projects, versions)
    if not projects and not args.export and not args.all:
        raise UsageError("crawl", "name projects, --from FILE, --all, or --export FILE")
    if args.jobs < 1 or (args.latest is not None and args.latest < 1) or args.rate < 0:
        raise UsageError("crawl", "--jobs and --latest must be at least 1, --rate at least 0")
    since = parse_since(args.since) if args.since else None
    config = IndexConfig.from_pip(index_url=args.index_url, extra_index_urls=args.extra_index_url or (),
                                  find_links=args.find_links or (), no_index=args.no_index)
    settings = CrawlSettings(scan=args.scan, rate=args.rate, timeout=config.timeout or 30.0, cert=config.cert,
                             pythons=tuple(args.python or ()), allow_build=args.allow_build)
    summary: dict = {}
    if args.all:
        from packaging.utils import canonicalize_name

        from ..index.simple import IndexClient

        named = {canonicalize_name(n) for n in projects}
        projects += [name for name in IndexClient.from_config(config, config.http_client()).projects()
                     if name not in named]
    with MetadataStore(args.store or default_store_path(args.cache_dir)) as store:
        summary["store"] = str(store.path)
        if projects:
            with ProgressBar("crawl", args, unit="file", leave=True) as progress:
                report = crawl(store, projects, index_urls=config.index_urls(),
                               find_links=config.find_links, settings=settings, latest=args.latest, since=since,
                               jobs=args.jobs, scheduler=args.scheduler or "", on_queued=progress.add_total,
                               on_file=lambda facts: progress.step(facts.filename[:40]), versions=versions)
            summary["crawl"] = report.to_json()
        if args.export:
            summary["export"] = {"file": args.export, **export_snapshot(store, args.export)}
        summary["counts"] = dict(store.counts())
    if args.json:
        print_json(summary)
    elif not args.quiet:
        _print_summary(summary)
    return 0


def _projects(args: argparse.Namespace) -> Tuple[List[str], Dict[str, Set[str]]]:
    """The projects named on the command line, then those of --from, each once, as given; and the versions
    named with ``PROJECT==VERSION`` (canonical name -> versions; a project also named bare is crawled whole)."""
    from packaging.utils import canonicalize_name

    named = [(name, "the command line") for name in args.projects]
    if args.from_file:
        path = require_file("--from", args.from_file)
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(path, f"cannot read: {exc}") from None
        for number, line in enumerate(lines, 1):
            name = line.split("#", 1)[0].strip()
            if name:
                named.append((name, f"{path}:{number}"))
    seen, out, versions, whole = set(), [], collections.defaultdict(set), set()
    for item, where in named:
        name, sep, version = (part.strip() for part in item.partition("=="))
        if not _NAME.match(name) or (sep and not _VERSION.match(version)):
            raise UsageError(where, f"{item!r} is not a project name or PROJECT==VERSION")
        key = canonicalize_name(name)
        if sep:
            versions[key].add(version)
        else:
            whole.add(key)
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out, {k: v for k, v in versions.items() if k not in whole}


def _print_summary(summary: dict) -> None:
    crawled = summary.get("crawl")
    if crawled:
        print(f"wheelmeta: crawled {crawled['projects']} projects: {crawled['files_done']} files read "
              f"({crawled['files_per_second']} files/s), {crawled['files_skipped']} already in the store, "
              f"{crawled['pages_not_modified']} pages unchanged, {crawled['requests']} requests; "
              f"{len(crawled['failures'])} failures", file=sys.stderr)
        if crawled["failures"]:
            width = max(len(f["what"]) for f in crawled["failures"])
            print(f"{'file or project':<{width}}  {'step':<16}  reason")
            for failure in crawled["failures"]:
                print(f"{failure['what']:<{width}}  {failure['step']:<16}  {failure['reason']}")
    exported = summary.get("export")
    if exported:
        print(f"wheelmeta: wrote {exported['file']} (sha256 {exported['sha256']}; facts of "
              f"{exported['crawled']['from']} to {exported['crawled']['to']})", file=sys.stderr)
    print(f"wheelmeta: store {summary['store']}: " + ", ".join(f"{n} {t}" for t, n in summary["counts"].items()),
          file=sys.stderr)


def _compare(args: argparse.Namespace, projects: List[str], versions: Dict[str, Set[str]]) -> int:
    """``--compare``: read the store only, compare and classify, print a table (or ``--json``)."""
    from packaging.utils import canonicalize_name

    from ..crawl.compare import compare_store, summarize
    from ..store import MetadataStore, default_store_path

    if (args.all or args.export or args.scan or args.scheduler or args.latest is not None or args.since
            or args.python or args.allow_build):
        raise UsageError("--compare", "reads the store only: it does not combine with --all, --export, --scan, "
                         "--scheduler, --latest, --since, --python or --allow-build (name releases as "
                         "PROJECT==VERSION)")
    with MetadataStore(args.store or default_store_path(args.cache_dir), readonly=True) as store:
        records = compare_store(store, projects)
        store_path = str(store.path)
    records = [r for r in records if not versions.get(canonicalize_name(r.project))
               or r.version in versions[canonicalize_name(r.project)]]
    summary = summarize(records, group=lambda r: r.backend or "unknown")
    if args.json:
        print_json({"store": store_path, "summary": summary, "releases": [r.to_json() for r in records]})
    elif not args.quiet:
        _print_comparison(records, summary)
    return 0


def _print_comparison(records, summary: dict) -> None:
    if not records:
        print("wheelmeta: no release in the store has metadata of both an sdist and a wheel", file=sys.stderr)
        return
    rows = [(f"{r.project}=={r.version}", r.backend or "-", r.klass, _what_differs(r)) for r in records]
    widths = [max(len(row[i]) for row in rows + [("release", "backend", "class", "")]) for i in range(3)]
    print(f"{'release':<{widths[0]}}  {'backend':<{widths[1]}}  {'class':<{widths[2]}}  what differs (sdist | wheel)")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip())
    total = summary["releases"]
    print("", file=sys.stderr)
    for name, count in sorted(summary["by_class"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"wheelmeta: {name}: {count} of {total} releases ({100 * count / total:.1f}%)", file=sys.stderr)


def _what_differs(record) -> str:
    if record.sdist_problem:
        return record.sdist_problem[:100]
    if not record.differences:
        return ""
    first = record.differences[0]
    extra = f"[{first['extra']}] " if first["extra"] else ""
    more = f" (+{len(record.differences) - 1} more)" if len(record.differences) > 1 else ""
    return (f"{extra}{', '.join(first['sdist_only']) or '-'} | {', '.join(first['wheel_only']) or '-'} at "
            f"{_points(first['points'])}{more}")


def _points(points: List[str]) -> str:
    return ", ".join(points[:3]) + (f" +{len(points) - 3}" if len(points) > 3 else "")
