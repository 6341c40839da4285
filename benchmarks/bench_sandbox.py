"""What the sandbox costs: setup.py under the shim with no sandbox vs each isolation level, same trees, one run.

    python benchmarks/bench_sandbox.py [SDIST_FOLDER] [--rounds 3]

Every ``*.tar.gz``/``*.zip`` sdist with a setup.py in SDIST_FOLDER is unpacked once into a scratch folder; then,
round after round, each tree runs (a) the shim directly (``python -E -s -B shim.py FD setup.py``, no
isolation, no limits), (b) the same with the real setuptools imported first instead of the shim's stand-in
(``WHEELMETA_SHIM_EAGER=1``, pip's way) and (c) ``run_setup_py`` at every isolation level this machine has,
interleaved so all see the same load. It prints the median seconds per mode and its ratio to (a), and checks
that every mode gives the same requirements, Requires-Python and name. Without a folder it uses one synthetic
setup.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from wheelmeta.sdist import shim
from wheelmeta.sdist.requirements import setuptools_requires_dist
from wheelmeta.sdist.sandbox import ISOLATIONS, _usable, run_setup_py

SYNTHETIC = 'from setuptools import setup\nsetup(name="synthetic", version="1.0", install_requires=["six"])\n'


def unpack(sdist: Path, scratch: Path) -> Path | None:
    """The sdist's top folder below ``scratch`` if it has a setup.py (standard library extraction)."""
    target = scratch / sdist.name
    target.mkdir()
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            archive.extractall(target)
    else:
        with tarfile.open(sdist) as archive:
            archive.extractall(target, filter="data")
    tops = [p for p in target.iterdir() if (p / "setup.py").is_file()]
    return tops[0] if tops else None


def run_direct(tree: Path, eager: bool = False) -> dict:
    """The shim with no sandbox at all: the floor the sandbox is measured against. ``eager``: the real
    setuptools imported first instead of the stand-in (as pip does)."""
    read_end, write_end = os.pipe()
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(tree)}
    if eager:
        env["WHEELMETA_SHIM_EAGER"] = "1"
    subprocess.run([sys.executable, "-E", "-s", "-B", shim.__file__, str(write_end), str(tree / "setup.py")],
                   pass_fds=(write_end,), cwd=tree, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=120)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as result:
        return json.loads(result.read() or b"{}").get("fields") or {}


def meaning(fields: dict) -> tuple:
    """What the fields mean once setuptools' marker placement is applied (the stand-in keeps markers as written,
    a merge by setuptools moves them under extras_require)."""
    if "error" in fields:
        return ("error",)
    requires = setuptools_requires_dist(fields.get("install_requires"), fields.get("extras_require"))[0]
    return sorted(map(str, requires)), fields.get("python_requires"), fields.get("name")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    if args.folder:
        sdists = sorted(p for p in args.folder.iterdir() if p.name.endswith((".tar.gz", ".zip")))
        trees = [t for t in (unpack(s, scratch) for s in sdists) if t]
    else:
        (scratch / "synthetic").mkdir()
        (scratch / "synthetic" / "setup.py").write_text(SYNTHETIC)
        trees = [scratch / "synthetic"]
    modes = ["direct", "direct-eager"] + [i for i in ISOLATIONS if _usable(i)]
    times = {mode: [] for mode in modes}
    disagreements = 0
    for _ in range(args.rounds):
        for tree in trees:
            fields = {}
            for mode in modes:
                start = time.perf_counter()
                try:
                    if mode.startswith("direct"):
                        got = run_direct(tree, eager=mode == "direct-eager")
                    else:
                        got = run_setup_py(tree, isolation=mode).fields
                except Exception as error:  # a failing setup.py fails in every mode; say so and go on
                    got = {"error": str(error)}
                times[mode].append(time.perf_counter() - start)
                fields[mode] = got
            if any(meaning(f) != meaning(fields["direct"]) for f in fields.values()):
                disagreements += 1
                print(f"{tree.name}: modes disagree: {fields}")
    floor = statistics.median(times["direct"])
    print(f"{len(trees)} trees x {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    for mode in modes:
        median = statistics.median(times[mode])
        print(f"  {mode:13s} median {median * 1000:7.1f} ms   x{median / floor:5.2f} of direct")
    print(f"  disagreements: {disagreements}")


if __name__ == "__main__":
    main()
