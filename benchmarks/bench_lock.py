"""Locking: ``wheelmeta lock`` against ``pip install --dry-run --report`` and ``uv pip compile``, cold and warm.

Three requirement sets, each for one target, every tool on the same indexes in one run:

* ``seed``: ``pillow>=7.1.1 numpy>=1.17 requests<2.22`` for CPython 3.12 on manylinux_2_28_x86_64, against pip's
  default index (read from pip at run time; needs the network);
* ``data-science`` (about 130 locked packages) and ``web`` (about 40) for CPython 3.11 on manylinux_2_34_x86_64,
  against the local mirror (``--mirror``, default ``file:///opt/pypi/simple`` and ``file:///opt/pypi-more/simple``,
  whose wheels are cp311 builds).

Cold is a fresh cache folder per tool; warm is the same command again with that cache filled. wheelmeta also runs
warm with ``--offline`` (the store alone). ``--repeat N`` runs the warm (and offline) commands N times, the three tools
taking turns, and reports the median run of each: a remote index's latency varies from minute to minute. Every tool runs with pip's configuration switched off
(``PIP_CONFIG_FILE=/dev/null``), uv without Python downloads, and uv with ``--index-strategy unsafe-best-match`` so
that, like pip and wheelmeta, it takes the best version over all indexes. pip needs ``--only-binary=:all:`` and
``--target`` for a foreign platform, so it cannot choose an sdist there; wheelmeta and uv can.

wheelmeta does more than the others in the same time: it scans every locked binary wheel (range reads of its ELF
members) for the Nix inputs, and writes a validated pylock.toml.

wheelmeta runs byte-compiled, as an installed wheelmeta is: its package is copied to the scratch folder and compiled
there before the clock starts (this checkout sets ``PYTHONDONTWRITEBYTECODE``, which would otherwise compile every
module from source on every run; pip's and the dependencies' modules are compiled in site-packages already).

Requests: wheelmeta counts its own (``--json``); pip's are the ``"GET``/``"HEAD`` lines of ``-vvv``; uv's the
"Sending ... request" lines of ``-vv`` (its range reads are not logged: a lower bound). A ``file://`` index costs
no requests.

    python benchmarks/bench_lock.py                 # all three sets
    python benchmarks/bench_lock.py --sets web      # one
    python benchmarks/bench_lock.py --repeat 5      # warm and offline: medians of 5 runs, tools taking turns
    python benchmarks/bench_lock.py --floor 21      # also the interpreter's floor: median of 21 starts

``--floor`` times what every wheelmeta run pays before it locks anything, in the same environment: a bare
``python -c pass`` and ``python -c "import wheelmeta.cli"`` (the interpreter start, site's .pth files, the imports of
the command line).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
MIRROR = ["file:///opt/pypi/simple", "file:///opt/pypi-more/simple"]

SETS: Dict[str, Tuple[List[str], str, str, str]] = {
    "seed": (["pillow>=7.1.1", "numpy>=1.17", "requests<2.22"], "3.12", "manylinux_2_28_x86_64", "default"),
    "data-science": (["jupyterlab", "pandas", "scipy", "scikit-learn", "matplotlib", "seaborn", "statsmodels",
                      "xarray", "dask[dataframe]", "numba", "sympy", "ipywidgets"],
                     "3.11", "manylinux_2_34_x86_64", "mirror"),
    "web": (["fastapi", "uvicorn[standard]", "sqlalchemy", "alembic", "flask", "httpx", "jinja2", "gunicorn",
             "psycopg2-binary", "requests"], "3.11", "manylinux_2_34_x86_64", "mirror"),
}


def _environment(site: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_PYTHON_DOWNLOADS="never",
               UV_NO_CONFIG="1", PYTHONPATH=str(site))
    return env


def _compiled_copy(scratch: Path) -> Path:
    """A copy of this checkout's wheelmeta package with its modules byte-compiled next to them, as an install has
    them; the folder to put on PYTHONPATH."""
    import compileall

    site = scratch / "site"
    shutil.copytree(ROOT / "src" / "wheelmeta", site / "wheelmeta", ignore=shutil.ignore_patterns("__pycache__"))
    if not compileall.compile_dir(str(site), quiet=1, legacy=False):
        sys.exit("byte-compiling the copy of wheelmeta failed")
    return site


def _indexes(which: str, mirror: List[str]) -> List[str]:
    if which == "mirror":
        return mirror
    sys.path.insert(0, str(ROOT / "src"))
    from wheelmeta.index.config import pip_default_index_url

    return [pip_default_index_url()]


def _index_args(indexes: List[str]) -> List[str]:
    out = ["--index-url", indexes[0]]
    for extra in indexes[1:]:
        out += ["--extra-index-url", extra]
    return out


def _run(argv: List[str], env: Dict[str, str]) -> Tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{argv[0]} {argv[1]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, done


def _wheelmeta(reqs, python, platform, indexes, cache, out, env, offline=False):
    argv = [sys.executable, "-m", "wheelmeta", "-q", "lock", *reqs, "--python-version", python, "--platform", platform,
            *_index_args(indexes), "--cache-dir", str(cache), "-o", str(out), "--json"]
    seconds, done = _run(argv + (["--offline"] if offline else []), env)
    summary = json.loads(done.stdout)
    return seconds, summary["packages"], summary["requests"]


def _pip(reqs, python, platform, indexes, cache, out, env):
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--report", str(out),
            "--python-version", python, *_pip_platforms(platform), "--only-binary=:all:", "--target",
            str(out.parent / "pip-target"), "--cache-dir", str(cache), *_index_args(indexes), "-vvv", *reqs]
    seconds, done = _run(argv, env)
    report = json.loads(out.read_text())
    requests = len(re.findall(r'"(?:GET|HEAD) ', done.stdout + done.stderr))
    return seconds, len(report["install"]), requests


def _pip_platforms(platform: str) -> List[str]:
    """pip takes a manylinux_2_X tag literally; the older tags a glibc 2.X system accepts are listed for it."""
    sys.path.insert(0, str(ROOT / "src"))
    from wheelmeta.target import expand_platform

    return [arg for tag in expand_platform(platform) for arg in ("--platform", tag)]


def _uv(reqs, python, platform, indexes, cache, out, env):
    uv_platform = _uv_platform(platform)
    req_file = out.with_suffix(".in")
    req_file.write_text("\n".join(reqs) + "\n")
    argv = [shutil.which("uv") or "uv", "pip", "compile", str(req_file), "--python-version", python,
            "--python-platform", uv_platform, *_index_args(indexes), "--index-strategy", "unsafe-best-match",
            "--cache-dir", str(cache), "--no-header", "-o", str(out), "-vv"]
    seconds, done = _run(argv, env)
    packages = sum(1 for line in out.read_text().splitlines() if "==" in line and not line.startswith("#"))
    requests = len(re.findall(r"Sending \w+ (?:GET|HEAD|revalidation)? ?request", done.stderr))
    return seconds, packages, requests


def _uv_platform(platform: str) -> str:
    """``manylinux_2_28_x86_64`` -> uv's ``x86_64-manylinux_2_28``."""
    match = re.fullmatch(r"(manylinux_\d+_\d+)_(x86_64|aarch64)", platform)
    if not match:
        raise SystemExit(f"{platform}: only manylinux_X_Y_<arch> targets are mapped to uv's names here")
    return f"{match.group(2)}-{match.group(1)}"


TOOLS = (("wheelmeta", _wheelmeta, "toml"), ("pip", _pip, "json"), ("uv", _uv, "txt"))


def _measure(name: str, mirror: List[str], scratch: Path, env: Dict[str, str], repeat: int = 1) -> dict:
    """Each tool cold (a fresh cache), then the warm runs (wheelmeta's offline one too) ``repeat`` times, the tools
    taking turns so that they meet the same load; a warm figure is the median of its runs."""
    reqs, python, platform, which = SETS[name]
    indexes = _indexes(which, mirror)
    folders = {tool: scratch / name / tool for tool, _, _ in TOOLS}
    rows: Dict[str, dict] = {}
    for tool, run, suffix in TOOLS:
        folders[tool].mkdir(parents=True)
        rows[tool] = {"cold": run(reqs, python, platform, indexes, folders[tool] / "cache",
                                  folders[tool] / f"cold.{suffix}", env)}
    runs: Dict[Tuple[str, str], list] = {}
    for _ in range(repeat):
        for tool, run, suffix in TOOLS:
            cache, folder = folders[tool] / "cache", folders[tool]
            runs.setdefault((tool, "warm"), []).append(
                run(reqs, python, platform, indexes, cache, folder / f"warm.{suffix}", env))
            if tool == "wheelmeta":
                runs.setdefault((tool, "offline"), []).append(
                    _wheelmeta(reqs, python, platform, indexes, cache, folder / "offline.toml", env, offline=True))
    for (tool, kind), measured in runs.items():
        rows[tool][kind] = sorted(measured)[len(measured) // 2]  # the median run (by seconds)
    cold_bytes = (folders["wheelmeta"] / "cold.toml").read_bytes()
    rows["wheelmeta"]["offline_same_bytes"] = cold_bytes == (folders["wheelmeta"] / "offline.toml").read_bytes()
    rows["wheelmeta"]["warm_same_bytes"] = cold_bytes == (folders["wheelmeta"] / "warm.toml").read_bytes()
    return {"set": name, "target": f"cp{python.replace('.', '')} {platform}", "index": _describe(indexes),
            "repeat": repeat, "rows": rows}


def _describe(indexes: List[str]) -> str:
    """The indexes a set ran against, as the printout names them (pip's default index by that name, not its URL)."""
    sys.path.insert(0, str(ROOT / "src"))
    from wheelmeta.index.config import pip_default_index_url

    default = pip_default_index_url()
    names = ["pip's default index" if url == default else url for url in indexes]
    return names[0] + (f" + {', '.join(names[1:])}" if names[1:] else "")


def _print(result: dict) -> None:
    rows = result["rows"]
    repeated = f"; warm and offline: median of {result['repeat']} runs" if result["repeat"] > 1 else ""
    print(f"\n{result['set']} ({result['target']}, {result['index']}{repeated})")
    print(f"  {'tool':<20}{'seconds':>9}{'packages':>10}{'requests':>10}")
    for tool, runs in rows.items():
        for kind in ("cold", "warm", "offline"):
            if kind in runs:
                seconds, packages, requests = runs[kind]
                print(f"  {tool + ' ' + kind:<20}{seconds:>9.2f}{packages:>10}{requests:>10}")
    wm = rows["wheelmeta"]
    print(f"  pip cold / wheelmeta cold:        {rows['pip']['cold'][0] / wm['cold'][0]:.2f}x")
    print(f"  uv cold / wheelmeta cold:         {rows['uv']['cold'][0] / wm['cold'][0]:.2f}x")
    print(f"  uv warm / wheelmeta warm:         {rows['uv']['warm'][0] / wm['warm'][0]:.2f}x")
    print(f"  uv warm / wheelmeta offline:      {rows['uv']['warm'][0] / wm['offline'][0]:.2f}x")
    print(f"  warm / offline lock byte-identical to the cold one: {wm['warm_same_bytes']} / {wm['offline_same_bytes']}")


def _floor(runs: int, env: Dict[str, str]) -> Dict[str, float]:
    """Median and best wall-clock seconds of a bare interpreter start and of importing wheelmeta's command line."""
    import statistics

    out = {}
    for label, code in (("python -c pass", "pass"), ("import wheelmeta.cli", "import wheelmeta.cli")):
        times = [_run([sys.executable, "-c", code], env)[0] for _ in range(runs)]
        out[label] = {"median": statistics.median(times), "best": min(times)}
        print(f"  {label:<22} median {out[label]['median']:.3f} s, best {out[label]['best']:.3f} s ({runs} runs)")
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    parser.add_argument("--mirror", nargs="+", default=MIRROR, help="the local index URLs (first is the main one)")
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the warm (and offline) locks N times, the tools taking turns; report the medians")
    parser.add_argument("--floor", type=int, default=0, metavar="N",
                        help="also time N bare interpreter starts and N imports of wheelmeta.cli (the floor)")
    args = parser.parse_args(argv)
    if not shutil.which("uv"):
        parser.error("uv is not installed (pip install uv)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as scratch:
        env = _environment(_compiled_copy(Path(scratch)))
        for name in args.sets:
            results.append(_measure(name, args.mirror, Path(scratch), env, max(1, args.repeat)))
            _print(results[-1])
        if args.floor:
            print("\nfloor (every wheelmeta run pays it before locking anything)")
            results.append({"floor": _floor(args.floor, env)})
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
