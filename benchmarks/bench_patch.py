"""wheelmeta patch against its floor and against unpack + patchelf + re-zip, on the same wheels in one run.

    python benchmarks/bench_patch.py WHEEL... [--lib-dir DIR] [--rounds 1]

For each wheel, with the same plan (every member gets the RUNPATH wheelmeta computes for ``--lib-dir``, by default
the folder of this machine's libstdc++):

- ``wheelmeta``: ``patch_wheel`` (scan, plan, extract and patchelf the changed members, raw-copy the rest);
- ``floor``: what no patcher can avoid: copying the file once, plus inflating and deflating (zlib level 6) the
  members that change; the patchelf runs themselves are timed apart and added, since every way of patching
  runs them;
- ``script``: what a hand-written script does: unzip everything, run patchelf on the same members, zip everything
  again (``zipfile``, deflate level 6).

Ratios are printed against the floor; the output wheels are checked to hold the same member names.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from wheelmeta.patchelf_nix.patch import LibrarySearch
from wheelmeta.patchelf_nix.patchelf import find_patchelf, run_patchelf
from wheelmeta.patchelf_nix.sonames import SonameMap
from wheelmeta.patchelf_nix.wheelpatch import patch_wheel, plan_wheel


def _libstdcxx_dir() -> str:
    out = subprocess.run(["cc", "-print-file-name=libstdc++.so.6"], capture_output=True, text=True).stdout.strip()
    return os.path.dirname(os.path.realpath(out)) if out else "/usr/lib/x86_64-linux-gnu"


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _floor(wheel: str, plan, work: Path, program: str) -> tuple:
    """(copy + inflate/deflate of changed members, patchelf time) in seconds."""
    copy_time, _ = _timed(lambda: shutil.copyfile(wheel, work / "copy.whl"))
    recompress, patchelf_time = 0.0, 0.0
    with zipfile.ZipFile(wheel) as zf:
        for member in plan.changed:
            start = time.perf_counter()
            data = zf.read(member.path)
            recompress += time.perf_counter() - start
            target = work / "member"
            target.write_bytes(data)
            del data
            t, _ = _timed(lambda: run_patchelf(str(target), where=member.path, runpath=member.runpath, program=program))
            patchelf_time += t
            patched = target.read_bytes()
            start = time.perf_counter()
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            compressor.compress(patched)
            compressor.flush()
            recompress += time.perf_counter() - start
            del patched
    os.unlink(work / "copy.whl")
    return copy_time + recompress, patchelf_time


def _script(wheel: str, plan, work: Path, program: str) -> float:
    """unzip, patchelf, zip: the way a script does it."""
    tree = work / "tree"

    def run():
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tree)
        for member in plan.changed:
            run_patchelf(str(tree / member.path), where=member.path, runpath=member.runpath, program=program)
        with zipfile.ZipFile(work / "script.whl", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as out:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(tree).as_posix())

    elapsed, _ = _timed(run)
    shutil.rmtree(tree)
    os.unlink(work / "script.whl")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="+")
    parser.add_argument("--lib-dir", default=_libstdcxx_dir())
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; the best of each is kept")
    parser.add_argument("--no-script", action="store_true", help="skip the unzip/patchelf/zip comparison")
    args = parser.parse_args()
    program = find_patchelf()
    search = LibrarySearch(SonameMap.load(), lib_dirs=(args.lib_dir,))
    print(f"lib dir: {args.lib_dir}; patchelf: {program}; rounds: {args.rounds}")
    for wheel in args.wheels:
        size = os.path.getsize(wheel)
        plan = plan_wheel(wheel, search)
        changed_bytes = 0
        with zipfile.ZipFile(wheel) as zf:
            for member in plan.changed:
                changed_bytes += zf.getinfo(member.path).file_size
        best = {"wheelmeta": float("inf"), "floor": float("inf"), "patchelf": float("inf"), "script": float("inf")}
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                t, result = _timed(lambda: patch_wheel(wheel, str(work / "out"), search))
                best["wheelmeta"] = min(best["wheelmeta"], t)
                with zipfile.ZipFile(result.output) as a, zipfile.ZipFile(wheel) as b:
                    assert a.namelist() == b.namelist(), "member lists differ"
                shutil.rmtree(work / "out")
                floor, patchelf_time = _floor(wheel, plan, work, program)
                best["floor"] = min(best["floor"], floor + patchelf_time)
                best["patchelf"] = min(best["patchelf"], patchelf_time)
                if not args.no_script:
                    best["script"] = min(best["script"], _script(wheel, plan, work, program))
        print(f"\n{os.path.basename(wheel)}: {size / 1e6:.0f} MB, {len(plan.members)} ELF members, "
              f"{len(plan.changed)} patched ({changed_bytes / 1e6:.0f} MB uncompressed)")
        print(f"  floor (copy + recompress patched + patchelf): {best['floor']:7.2f} s  (patchelf {best['patchelf']:.2f} s)")
        print(f"  wheelmeta patch:                              {best['wheelmeta']:7.2f} s  "
              f"= {best['wheelmeta'] / best['floor']:.2f}x the floor")
        if not args.no_script:
            print(f"  unzip + patchelf + zip:                       {best['script']:7.2f} s  "
                  f"= {best['script'] / best['floor']:.2f}x the floor, {best['script'] / best['wheelmeta']:.1f}x wheelmeta")
    return 0


if __name__ == "__main__":
    sys.exit(main())
