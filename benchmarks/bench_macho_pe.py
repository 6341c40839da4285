"""Speed: ``wheelmeta scan`` of a large macOS or Windows wheel against what a user would otherwise run on Linux.

delocate-listdeps needs macOS tools, so the baseline is what it rests on, done the plain way: unzip the wheel
into a temporary folder, then open every member with macholib (``MachO(path)``, each header's
``walkRelocatables()``) or pefile (``PE(path)``, all directories parsed). Both sides run in this process, on the
same file, in one run; the ratio is baseline time / wheelmeta time. The baseline's listing is also checked against
wheelmeta's, so the two did the same work::

    pip download --no-deps --only-binary :all: --platform macosx_11_0_arm64 --python-version 3.11 -d CACHE torch==2.9.1
    PYTHONPATH=src python benchmarks/bench_macho_pe.py CACHE/torch-2.9.1-cp311-none-macosx_11_0_arm64.whl
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import zipfile

from check_macho_pe import compare, ours, references  # noqa: E402 - benchmarks/ is the script's own folder

from wheelmeta.manylinux.audit import audit_source


def baseline(path: str, fmt: str, folder: str):
    """Unzip into ``folder`` (emptied first) and read every member there: the timed part of the baseline."""
    shutil.rmtree(folder, ignore_errors=True)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(folder)
    return references(folder, fmt)


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="+")
    parser.add_argument("--runs", type=int, default=3, help="best of N for each side (default 3)")
    args = parser.parse_args()
    audits = {wheel: best_of(args.runs, lambda w=wheel: audit_source(w)) for wheel in args.wheels}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # wheelmeta's side ran alone so far
    for wheel, (ours_s, audit) in audits.items():
        fmt = audit.format
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "unzipped")
            unzip_s, _ = best_of(1, lambda w=wheel, d=folder: zipfile.ZipFile(w).extractall(d))
            base_s, expected = best_of(args.runs, lambda w=wheel, f=fmt, d=folder: baseline(w, f, d))
            stats = {"macho": 0, "pe": 0, "binaries": 0, "names": 0, "readobj": []}
            disagreements = compare(wheel, fmt, expected, {f.path: ours(f) for f in audit.binaries}, folder, stats)
        size = os.path.getsize(wheel) / 1e6
        print(f"{os.path.basename(wheel)} ({size:.0f} MB, {len(audit.binaries)} {fmt} binaries, "
              f"{len(disagreements)} disagreements, {len(stats['readobj'])} settled by llvm-readobj)")
        print(f"  wheelmeta scan (streamed):          {ours_s:6.2f} s")
        print(f"  unzip + {'macholib' if fmt == 'macho' else 'pefile  '} every member:    {base_s:6.2f} s   "
              f"ratio {base_s / ours_s:5.1f}x   (of which unzip alone {unzip_s:.2f} s)")
    print(f"peak RSS after wheelmeta's scans: {peak:.0f} MB; after the baselines too: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
