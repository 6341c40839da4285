"""Crawling: ``wheelmeta crawl`` over every wheel of the local mirror, against pkginfo after a full download.

The mirrors' files (``--files``, default ``/opt/pypi/files`` and ``/opt/pypi-more/files``) are served over HTTP on 127.0.0.1 by the test index
server (``tests/indexserver.py``: PEP 691 JSON pages, range requests), so every request is a real one and is counted
at the server. Three runs, one after the other, on the same files:

* ``crawl-pep658``: ``wheelmeta crawl`` of every project, the index offering PEP 658 ``.metadata`` files (what the
  public index does for wheels today): one request per wheel;
* ``crawl-ranges``: the same without PEP 658: range reads of each wheel's tail and METADATA member;
* ``pkginfo``: the seed project's way, every wheel downloaded whole (``requests``, the same number of threads) and
  read with ``pkginfo.Wheel``.

Files per second count the crawl's own time (its ``--json`` ``seconds``, without the interpreter's start);
requests per file are the server's count less one page per project. The crawls run as a child process (``python -m wheelmeta crawl --json``, a fresh store each) whose resident memory
is sampled every 0.2 s; "flat" compares the highest sample of the last quarter of the run with that of the first.
Sdists are left out (``--only-wheels``): their cost is the sandbox's (benchmarks/bench_sandbox.py).

    python benchmarks/bench_crawl.py                    # every wheel of both mirrors
    python benchmarks/bench_crawl.py --limit 200        # the first 200 projects
    python benchmarks/bench_crawl.py --scan             # and a crawl with --scan (reads every Linux wheel's ELF)
    python benchmarks/bench_crawl.py --scan --largest 24 --jobs 1   # memory of --scan against --jobs
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))


def _projects(folders: List[Path], limit: int) -> Tuple[List[str], List[Path]]:
    from packaging.utils import canonicalize_name, parse_wheel_filename

    projects: Dict[str, List[Path]] = {}
    seen = set()
    for path in sorted(p for folder in folders for p in folder.glob("*.whl")):
        if path.name not in seen:  # a file in two mirrors is one file of the index
            seen.add(path.name)
            projects.setdefault(canonicalize_name(parse_wheel_filename(path.name)[0]), []).append(path)
    names = sorted(projects)[:limit] if limit else sorted(projects)
    return names, [p for n in names for p in projects[n]]


def _project_of(wheel: Path) -> str:
    from packaging.utils import canonicalize_name, parse_wheel_filename

    return canonicalize_name(parse_wheel_filename(wheel.name)[0])


def _warm(server, wheels: List[Path]) -> None:
    """Let the server hash every file before the clock starts (a real index has its hashes precomputed)."""
    for path in wheels:
        server.sha256(path.name)


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def _crawl(server, names: List[str], jobs: int, folder: Path, scan: bool = False) -> dict:
    """One crawl in a child process; its --json summary plus timing, memory samples, the server's count and the
    sizes of the store and of its snapshot."""
    (folder / "projects.txt").write_text("\n".join(names) + "\n")
    command = [sys.executable, "-m", "wheelmeta", "crawl", "--from", str(folder / "projects.txt"), "-i",
               server.index_url, "--store", str(folder / "store.sqlite"), "--jobs", str(jobs), "--rate", "0", "--json",
               "--export", str(folder / "snapshot.jsonl.gz"), *(["--scan"] if scan else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # this index alone, no find-links
    env.update(PYTHONPATH=str(ROOT / "src"), PIP_CONFIG_FILE=os.devnull)
    server.reset()
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: List[int] = []

    def sample() -> None:
        while child.poll() is None:
            samples.append(_rss_kib(child.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"crawl failed ({child.returncode}): {err.strip()[-2000:]}")
    summary = json.loads(out)
    samples = [s for s in samples if s] or [0]
    quarter = max(1, len(samples) // 4)
    # the first quarter holds the interpreter's start and imports: compare the second with the last
    return {"seconds": summary["crawl"]["seconds"], "wall_seconds": seconds, "summary": summary["crawl"],
            "server_requests": server.requests, "server_bytes": server.bytes_sent,
            "rss_second_quarter_kib": max(samples[quarter : 2 * quarter] or samples),
            "rss_last_quarter_kib": max(samples[-quarter:]), "rss_max_kib": max(samples),
            "store_bytes": sum(p.stat().st_size for p in folder.glob("store.sqlite*")),
            "snapshot_bytes": (folder / "snapshot.jsonl.gz").stat().st_size, "counts": summary["counts"]}


def _pkginfo(server, wheels: List[Path], jobs: int) -> dict:
    """Every wheel downloaded whole into a temporary file and read by pkginfo, ``jobs`` at a time."""
    import pkginfo
    import requests

    session = requests.Session()
    server.reset()

    def read(path: Path) -> str:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as folder:
            target = os.path.join(folder, path.name)  # pkginfo.Wheel wants the wheel's own file name
            with session.get(server.file_url(path.name), stream=True, timeout=60) as response, \
                    open(target, "wb") as f:
                response.raise_for_status()
                for block in response.iter_content(1 << 20):
                    f.write(block)
            return pkginfo.Wheel(target).name

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        names = list(pool.map(read, wheels))
    return {"seconds": time.perf_counter() - started, "files": len(names), "server_requests": server.requests,
            "server_bytes": server.bytes_sent}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", action="append", metavar="FOLDER",
                        help="a folder of wheels to serve; repeatable (default: /opt/pypi/files and "
                        "/opt/pypi-more/files, the mirrors pip is configured with here)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N projects (0: all)")
    parser.add_argument("--jobs", type=int, default=8, help="crawl --jobs and download threads (default 8)")
    parser.add_argument("--scan", action="store_true", help="also a crawl with --scan (ELF facts of Linux wheels)")
    parser.add_argument("--largest", type=int, default=0, metavar="N",
                        help="only the N largest Linux wheels (how memory follows --jobs under --scan)")
    args = parser.parse_args()
    from indexserver import IndexServer

    folders = [Path(f) for f in args.files or ("/opt/pypi/files", "/opt/pypi-more/files")]
    names, wheels = _projects([f for f in folders if f.is_dir()], args.limit)
    if args.largest:
        wheels = sorted((w for w in wheels if "linux" in w.name), key=lambda w: -w.stat().st_size)[: args.largest]
        names = sorted({_project_of(w) for w in wheels})
    only_wheels = Path(tempfile.mkdtemp(prefix="bench-crawl-wheels-"))
    for path in wheels:  # the server lists every file of the folder: give it the wheels alone
        os.symlink(path, only_wheels / path.name)
    results = {}
    try:
        runs = [("crawl-pep658", True, False), ("crawl-ranges", False, False)]
        for label, pep658, scan in runs + ([("crawl-pep658-scan", True, True)] if args.scan else []):
            with IndexServer(only_wheels, fmt="json", pep658=pep658) as server, \
                    tempfile.TemporaryDirectory(prefix="bench-crawl-") as folder:
                _warm(server, wheels)
                results[label] = _crawl(server, names, args.jobs, Path(folder), scan=scan)
        with IndexServer(only_wheels, fmt="json") as server:
            results["pkginfo"] = _pkginfo(server, wheels, args.jobs)
    finally:
        import shutil

        shutil.rmtree(only_wheels, ignore_errors=True)
    _report(results, len(names), len(wheels), sum(p.stat().st_size for p in wheels))
    return 0


def _report(results: dict, projects: int, wheels: int, size: int) -> None:
    print(f"{projects} projects, {wheels} wheels, {size / 1e9:.2f} GB, served on 127.0.0.1")
    base = results["pkginfo"]
    base_rate = base["files"] / base["seconds"]
    print(f"{'run':<14} {'files/s':>9} {'x pkginfo':>10} {'req/file':>9} {'MB received':>12} "
          f"{'RSS 2nd/last quarter, max (MiB)':>32}")
    for label in [k for k in results if k.startswith("crawl")]:
        r = results[label]
        done = r["summary"]["files_done"]
        rate = done / r["seconds"]
        per_file = (r["server_requests"] - projects) / max(1, done)  # one page per project apart
        print(f"{label:<14} {rate:>9.1f} {rate / base_rate:>10.1f} {per_file:>9.2f} "
              f"{r['server_bytes'] / 1e6:>12.1f} {r['rss_second_quarter_kib'] / 1024:>12.0f} / "
              f"{r['rss_last_quarter_kib'] / 1024:.0f}, {r['rss_max_kib'] / 1024:.0f}")
        print(f"   store {r['store_bytes'] / 1e6:.1f} MB ({r['counts']['metadata']} metadata, {r['counts']['audits']} "
              f"audits), snapshot {r['snapshot_bytes'] / 1e6:.2f} MB")
        if r["summary"]["failures"]:
            print(f"   {len(r['summary']['failures'])} failures, first: {r['summary']['failures'][0]}")
    print(f"{'pkginfo':<14} {base_rate:>9.1f} {1.0:>10.1f} {base['server_requests'] / base['files']:>9.2f} "
          f"{base['server_bytes'] / 1e6:>12.1f}")
    print(json.dumps(results, indent=1, default=str), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
