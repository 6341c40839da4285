"""wheelmeta scan against `auditwheel show --json`, on the same wheels in one run.

    python benchmarks/bench_scan.py WHEEL... [--no-auditwheel] [--no-floor] [--json-out FILE]

For each wheel: wall time and peak RSS of ``wheelmeta scan --json`` and of ``auditwheel show --json`` (each in its
own child process, measured by a small wrapper through ``resource.getrusage(RUSAGE_CHILDREN)``), whether they agree
on the names in ``external_libs``, on ``versioned_symbols`` and on ``overall_tag``, and the *inflate floor*: the
time to only inflate the bytes the scan needed (every ELF member up to the last byte its facts need, with isal,
spread over the same number of threads as the scan), next to the scan's own in-process time (best of
``--rounds`` alternating runs of each).

Ratios measured in one run are robust to machine load; absolute times are not.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional

from wheelmeta.manylinux.audit import _default_workers, audit_source
from wheelmeta.manylinux.elf import read_elf_facts
from wheelmeta.sources import LocalFileSource
from wheelmeta.wheels.zipdir import ZipDirectory, compressed_range, iter_member

try:
    from isal import isal_zlib as inflate_lib
except ImportError:  # pragma: no cover
    import zlib as inflate_lib

# runs argv[2:], writes its stdout to argv[1], prints "seconds peak_rss_kib returncode"
_WRAPPER = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
with open(sys.argv[1], "wb") as out:
    rc = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL).returncode
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def measure(cmd: List[str], out_path: str) -> Dict[str, float]:
    """Wall seconds, peak RSS (MiB) and exit code of ``cmd`` run alone in a fresh child."""
    line = subprocess.run([sys.executable, "-c", _WRAPPER, out_path, *cmd], capture_output=True, text=True).stdout
    seconds, rss_kib, rc = line.split()
    return {"seconds": float(seconds), "rss_mib": int(rss_kib) / 1024, "rc": int(rc)}


def needed_bytes(path: str) -> Dict[str, int]:
    """member -> bytes of it the ELF reader consumed (counted by re-running the reader, untimed)."""
    source = LocalFileSource(path)
    zd = ZipDirectory.read(source)
    audit = audit_source(source)
    out = {}
    for facts in audit.elf_files:
        entry = zd.find(facts.path)
        consumed = [0]

        def counting(stream):
            for chunk in stream:
                consumed[0] += len(chunk)
                yield chunk

        stream = iter_member(source, entry)
        read_elf_facts(counting(stream), entry.name, size=entry.file_size, reopen=lambda e=entry: iter_member(source, e))
        stream.close()
        out[facts.path] = consumed[0]
    return out


def inflate_prefix(source: LocalFileSource, zd: ZipDirectory, name: str, upto: int) -> int:
    """Inflate member ``name`` up to ``upto`` bytes with nothing else: the floor of a streamed scan."""
    entry = zd.find(name)
    offset, length = compressed_range(source, entry)
    if entry.compress_type == 0:
        return len(source.read_at(offset, upto))
    inflater, done = inflate_lib.decompressobj(-15), 0
    for raw in source.stream(offset, length, 1 << 20):
        while raw and done < upto:
            done += len(inflater.decompress(raw, 1 << 20))
            raw = inflater.unconsumed_tail
        if done >= upto:
            break
    return done


def floor_seconds(path: str, needs: Dict[str, int]) -> float:
    source = LocalFileSource(path)
    zd = ZipDirectory.read(source)
    order = sorted(needs.items(), key=lambda kv: -kv[1])
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(_default_workers(source)) as pool:
        list(pool.map(lambda kv: inflate_prefix(source, zd, *kv), order))
    return time.perf_counter() - start


def compare(ours: dict, theirs: dict) -> Dict[str, Optional[bool]]:
    if "overall_tag" not in theirs:
        return {"external_libs": None, "versioned_symbols": None, "overall_tag": None}
    return {
        "external_libs": set(ours["external_libs"]) == set(theirs["external_libs"]),
        "versioned_symbols": {k: sorted(v) for k, v in ours["versioned_symbols"].items()} == theirs["versioned_symbols"],
        "overall_tag": ours["overall_tag"] == theirs["overall_tag"],
    }


def bench_one(path: str, args: argparse.Namespace, tmp: str) -> dict:
    row: dict = {"wheel": os.path.basename(path), "size_mib": os.path.getsize(path) / 2**20}
    ours_out, theirs_out = os.path.join(tmp, "ours.json"), os.path.join(tmp, "theirs.json")
    row["wheelmeta"] = measure([sys.executable, "-m", "wheelmeta", "-q", "scan", "--json", path], ours_out)
    ours = json.load(open(ours_out))[0]
    if not args.no_floor and ours.get("kind") == "elf":
        needs = needed_bytes(path)
        scans, floors = [], []
        for _ in range(args.rounds):  # alternate, best of each: both see the same page cache and load
            start = time.perf_counter()
            audit_source(path)
            scans.append(time.perf_counter() - start)
            floors.append(floor_seconds(path, needs))
        row["scan_in_process"], row["floor"] = min(scans), min(floors)
    if not args.no_auditwheel:
        row["auditwheel"] = measure(["auditwheel", "show", "--json", path], theirs_out)
        try:
            theirs = json.load(open(theirs_out))
        except ValueError:
            theirs = {}
        row["agree"] = compare(ours, theirs) if ours.get("kind") == "elf" else {}
        row["theirs"] = {k: theirs.get(k) for k in ("overall_tag", "external_libs", "error")}
        row["ours"] = {k: ours.get(k) for k in ("overall_tag", "kind")} | {"external_libs": sorted(ours.get("external_libs", {}))}
    return row


def print_row(row: dict) -> None:
    wm = row["wheelmeta"]
    parts = [f"{row['wheel'][:60]:<60} {row['size_mib']:7.1f} MiB  wheelmeta {wm['seconds']:6.2f}s {wm['rss_mib']:5.0f} MiB"]
    if "auditwheel" in row:
        aw = row["auditwheel"]
        parts.append(f"auditwheel {aw['seconds']:6.2f}s {aw['rss_mib']:5.0f} MiB  x{aw['seconds'] / wm['seconds']:5.1f}")
        bad = [k for k, ok in row.get("agree", {}).items() if ok is False]
        parts.append("agree" if not bad else "DIFFER: " + ",".join(bad))
    if "floor" in row:
        parts.append(f"scan {row['scan_in_process']:.2f}s floor {row['floor']:.2f}s (x{row['scan_in_process'] / row['floor']:.2f})")
    print("  ".join(parts), flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheels", nargs="+")
    parser.add_argument("--no-auditwheel", action="store_true", help="only time wheelmeta and the floor")
    parser.add_argument("--no-floor", action="store_true", help="skip the inflate floor")
    parser.add_argument("--json-out", help="write every row as JSON here")
    parser.add_argument("--rounds", type=int, default=3, help="in-process scan and floor runs, best of (default 3)")
    args = parser.parse_args(argv)
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.wheels:
            rows.append(bench_one(path, args, tmp))
            print_row(rows[-1])
    summarize(rows)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def summarize(rows: List[dict]) -> None:
    timed = [r for r in rows if "auditwheel" in r]
    if timed:
        ours = sum(r["wheelmeta"]["seconds"] for r in timed)
        theirs = sum(r["auditwheel"]["seconds"] for r in timed)
        print(f"\n{len(timed)} wheels: wheelmeta {ours:.1f}s, auditwheel {theirs:.1f}s, x{theirs / ours:.1f} overall;"
              f" peak RSS wheelmeta {max(r['wheelmeta']['rss_mib'] for r in timed):.0f} MiB,"
              f" auditwheel {max(r['auditwheel']['rss_mib'] for r in timed):.0f} MiB")
        for key in ("external_libs", "versioned_symbols", "overall_tag"):
            verdicts = [r["agree"].get(key) for r in timed if r.get("agree")]
            print(f"  {key}: agree on {sum(v is True for v in verdicts)} of {sum(v is not None for v in verdicts)}")
    floors = [r for r in rows if "floor" in r]
    if floors:
        worst = max(floors, key=lambda r: r["scan_in_process"] / r["floor"])
        print(f"  scan/floor: worst x{worst['scan_in_process'] / worst['floor']:.2f} ({worst['wheel']})")


if __name__ == "__main__":
    sys.exit(main())
