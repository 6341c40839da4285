"""wheelmeta's sdist chain against pip's ``--report`` route on the same sdists: time, ratio, agreement.

For every ``name==version`` of the corpus list, the folder holds the sdist (``sdist/``) and the pure wheel
(``wheel/``) of that release. For each sdist it measures:

- ``wheelmeta``: ``read_sdist_metadata(sdist)`` (static chain, else setup.py in the sandbox);
- ``pip``: ``pip install --dry-run --no-deps --ignore-installed --report FILE SDIST`` (pip builds the metadata
  itself, in an isolated build environment);

and compares Requires-Dist and Requires-Python of both with the wheel's METADATA after normalization: names
canonical, extras canonical, specifier sets compared as sets, and each marker compared by its truth table over a
grid of environments (Python 2.7 to 3.14, three platforms, two implementations, every extra), so
``(a) and extra == "x"`` equals ``a and extra == 'x'``. Requires-Python is compared over the same Python grid.

    python benchmarks/bench_sdist.py --corpus /work/scratch/e1/corpus              # with pip, slow
    python benchmarks/bench_sdist.py --corpus /work/scratch/e1/corpus --no-pip     # agreement only
    python benchmarks/bench_sdist.py --corpus CORPUS --speed --rounds 7             # the issue's three, vs pip

Ratios from one run are robust to machine load; absolute times are not.
"""

from __future__ import annotations

import argparse
import email.parser
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from wheelmeta.sdist import read_sdist_metadata

HERE = Path(__file__).resolve().parent
PYTHONS = ["2.7"] + [f"3.{m}" for m in range(0, 15)]
FULL_VERSIONS = [f"{p}.{patch}" for p in PYTHONS for patch in (0, 3, 8)]
PLATFORMS = [("linux", "Linux", "posix"), ("win32", "Windows", "nt"), ("darwin", "Darwin", "posix")]
IMPLEMENTATIONS = [("CPython", "cpython"), ("PyPy", "pypy")]


def environments(extras: Iterable[str]) -> List[Dict[str, str]]:
    """The grid of marker environments a marker is evaluated on (its truth table is its normal form)."""
    envs = []
    for full, (plat, system, os_name), (impl, impl_name), extra in itertools.product(
        FULL_VERSIONS, PLATFORMS, IMPLEMENTATIONS, [""] + sorted(set(extras))
    ):
        envs.append(
            {
                "python_version": ".".join(full.split(".")[:2]),
                "python_full_version": full,
                "implementation_version": full,
                "sys_platform": plat,
                "platform_system": system,
                "os_name": os_name,
                "platform_python_implementation": impl,
                "implementation_name": impl_name,
                "platform_machine": "x86_64",
                "platform_release": "",
                "platform_version": "",
                "extra": extra,
            }
        )
    return envs


def normalized_requires(reqs: Iterable[Requirement], extras: Iterable[str]) -> List[Tuple]:
    """Requirements as sortable tuples: canonical name, extras, specifiers, URL, marker truth table."""
    envs = environments(canonicalize_name(e) for e in extras)
    out = []
    for r in reqs:
        truth = tuple(_evaluate(r.marker, env) for env in envs) if r.marker else None
        specs = tuple(sorted(str(s) for s in SpecifierSet(",".join(_canonical_spec(s) for s in r.specifier))))
        out.append((canonicalize_name(r.name), tuple(sorted(canonicalize_name(e) for e in r.extras)), specs,
                    r.url or "", truth))
    return sorted(set(out), key=repr)


def _canonical_spec(spec) -> str:
    version = spec.version
    if not version.endswith(".*") and spec.operator not in ("~=", "==="):  # ~=7.0 must keep two parts
        version = str(Version(version))
        while version.endswith(".0") and version.count(".") > 0:  # <2.0.0 == <2
            version = version[:-2]
    return spec.operator + version


def _evaluate(marker: Marker, env: Dict[str, str]) -> bool:
    try:
        return marker.evaluate(env)
    except Exception:  # an invalid comparison (e.g. a non-version string) counts as its own value
        return False


def normalized_python(spec: Optional[SpecifierSet]) -> Tuple[bool, ...]:
    if spec is None or not str(spec):
        return ()
    table = tuple(spec.contains(v, prereleases=True) for v in FULL_VERSIONS)
    return () if all(table) else table


def wheel_facts(wheel: Path) -> Tuple[List[Requirement], Optional[SpecifierSet], List[str]]:
    """Requires-Dist, Requires-Python and Provides-Extra straight from the wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        headers = email.parser.BytesHeaderParser().parsebytes(zf.read(name))
    reqs = [_wheel_requirement(r) for r in headers.get_all("Requires-Dist") or ()]
    rp = headers.get("Requires-Python")
    python = SpecifierSet(",".join(c for c in rp.split(",") if _valid_specifier(c))) if rp else None
    return reqs, python, list(headers.get_all("Provides-Extra") or ())


def _wheel_requirement(text: str) -> Requirement:
    """A Requires-Dist line; one that today's packaging refuses for a legacy specifier (``pytz (>dev)``, written
    by the setuptools of its day) counts by name, extras and marker, the clauses packaging rejects left out."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        head, _, marker = text.partition(";")
        name, _, specs = head.partition("(") if "(" in head else (head, "", "")
        clauses = [c for c in specs.rstrip(") ").split(",") if c.strip() and _valid_specifier(c)]
        return Requirement(name.strip() + ",".join(clauses) + (f";{marker}" if marker else ""))


def _valid_specifier(text: str) -> bool:
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


def pip_report(sdist: Path) -> Tuple[float, Optional[dict], str]:
    """Time pip's --report route on one sdist; returns (seconds, metadata dict or None, error)."""
    with tempfile.TemporaryDirectory(prefix="bench-sdist-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "-q",
               "--report", str(report), str(sdist)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not report.exists():
            return elapsed, None, (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        data = json.loads(report.read_text())
    return elapsed, data["install"][0]["metadata"], ""


def find_pair(corpus: Path, requirement: str) -> Tuple[Optional[Path], Optional[Path]]:
    name, version = requirement.split("==")
    key = (canonicalize_name(name), Version(version))
    sdist = wheel = None
    for f in (corpus / "sdist").iterdir():
        try:
            n, v = parse_sdist_filename(f.name)
        except Exception:
            continue
        if (n, v) == key:
            sdist = f
    for f in (corpus / "wheel").iterdir():
        n, v, _, _ = parse_wheel_filename(f.name)
        if (n, v) == key:
            wheel = f
    return sdist, wheel


def compare(label: str, reqs, python, wheel_reqs, wheel_python, extras) -> List[str]:
    """What differs from the wheel, as readable lines (empty when they agree)."""
    diffs = []
    ours, theirs = normalized_requires(reqs, extras), normalized_requires(wheel_reqs, extras)
    if ours != theirs:
        mine = {str(r) for r in reqs}
        wheels = {str(r) for r in wheel_reqs}
        diffs.append(f"{label} requires_dist: only sdist {sorted(mine - wheels)} only wheel {sorted(wheels - mine)}")
    if normalized_python(python) != normalized_python(wheel_python):
        diffs.append(f"{label} requires_python: sdist {python} wheel {wheel_python}")
    return diffs


def run(corpus: Path, requirements: List[str], with_pip: bool, python: Optional[str]) -> dict:
    rows = []
    for requirement in requirements:
        sdist, wheel = find_pair(corpus, requirement)
        if sdist is None or wheel is None:
            rows.append({"release": requirement, "error": "sdist or wheel missing from the corpus"})
            continue
        facts = wheel_facts(wheel)
        row, ours = _wheelmeta_row(requirement, sdist, facts, python)
        if with_pip:
            _add_pip(row, sdist, facts, ours)
        rows.append(row)
        print(_row_line(row), flush=True)
    return {"rows": rows, "summary": summarize(rows, with_pip)}


def _wheelmeta_row(requirement: str, sdist: Path, facts, python: Optional[str]):
    """Time read_sdist_metadata on one sdist and compare it with the wheel; returns (row, metadata or None)."""
    wheel_reqs, wheel_python, wheel_extras = facts
    row: dict = {"release": requirement, "sdist": sdist.name}
    start = time.perf_counter()
    try:
        md = read_sdist_metadata(sdist, python=python)
    except Exception as exc:  # a failure is a result to report, not a crash of the benchmark
        row.update(wheelmeta_s=time.perf_counter() - start, provenance="error", diffs=[f"wheelmeta error: {exc}"])
        return row, None
    row.update(wheelmeta_s=time.perf_counter() - start, provenance=md.provenance, isolation=md.isolation)
    extras = set(wheel_extras) | set(md.provides_extra)
    row["diffs"] = compare("wheelmeta", md.requires_dist, md.requires_python, wheel_reqs, wheel_python, extras)
    return row, md


def _add_pip(row: dict, sdist: Path, facts, ours) -> None:
    """Time pip's --report route on the same sdist; compare its answer with the wheel and with wheelmeta's."""
    wheel_reqs, wheel_python, wheel_extras = facts
    seconds, meta, error = pip_report(sdist)
    row["pip_s"] = seconds
    if meta is None:
        row["pip_diffs"] = row["vs_pip"] = [f"pip error: {error}"]
        return
    pip_reqs = [Requirement(r) for r in meta.get("requires_dist") or ()]
    pip_python = SpecifierSet(meta["requires_python"]) if meta.get("requires_python") else None
    extras = set(wheel_extras) | set(meta.get("provides_extra") or ())
    row["pip_diffs"] = compare("pip", pip_reqs, pip_python, wheel_reqs, wheel_python, extras)
    if ours is not None:
        extras |= set(ours.provides_extra)
        row["vs_pip"] = compare("wheelmeta vs pip", ours.requires_dist, ours.requires_python, pip_reqs, pip_python,
                                extras)


def _row_line(row: dict) -> str:
    if "error" in row:
        return f"{row['release']:32} MISSING {row['error']}"
    agree = "agree" if not row["diffs"] else "DIFF "
    pip = f" pip {row['pip_s']:7.3f}s" if "pip_s" in row else ""
    text = f"{row['release']:32} {row['provenance']:20} {agree} wheelmeta {row['wheelmeta_s']:7.3f}s{pip}"
    return text + "".join(f"\n    {d}" for d in row["diffs"] + row.get("pip_diffs", []) + row.get("vs_pip", []))


def summarize(rows: List[dict], with_pip: bool) -> dict:
    done = [r for r in rows if "error" not in r]
    agree = [r for r in done if not r["diffs"]]
    by_provenance: Dict[str, List[int]] = {}
    for r in done:
        by_provenance.setdefault(r["provenance"], [0, 0])
        by_provenance[r["provenance"]][0] += not r["diffs"]
        by_provenance[r["provenance"]][1] += 1
    summary = {
        "releases": len(done),
        "agree_with_wheel": len(agree),
        "agreement": len(agree) / len(done) if done else 0.0,
        "by_provenance": {k: f"{a}/{n}" for k, (a, n) in sorted(by_provenance.items())},
        "wheelmeta_median_s": statistics.median(r["wheelmeta_s"] for r in done) if done else None,
    }
    setup_py = [r for r in done if r["provenance"] == "setup-py-sandboxed"]
    if setup_py:
        summary["wheelmeta_median_setup_py_s"] = statistics.median(r["wheelmeta_s"] for r in setup_py)
    if with_pip:
        summary["pip_agree_with_wheel"] = sum(1 for r in done if not r.get("pip_diffs"))
        summary["wheelmeta_agree_with_pip"] = sum(1 for r in done if "vs_pip" in r and not r["vs_pip"])
        summary["pip_median_s"] = statistics.median(r["pip_s"] for r in done)
        summary["ratio_median"] = summary["pip_median_s"] / summary["wheelmeta_median_s"]
        if setup_py:
            summary["pip_median_setup_py_s"] = statistics.median(r["pip_s"] for r in setup_py)
            summary["ratio_median_setup_py"] = (
                summary["pip_median_setup_py_s"] / summary["wheelmeta_median_setup_py_s"]
            )
            summary["median_of_ratios_setup_py"] = statistics.median(r["pip_s"] / r["wheelmeta_s"] for r in setup_py)
            summary["isolation"] = sorted({str(r.get("isolation")) for r in setup_py})
    return summary


#: the setup.py sdists issue 9 measured the speed goal on (5x pip's --report route)
SPEED_RELEASES = ("requests==2.22.0", "django==2.2.4", "celery==4.3.0")


def speed(corpus: Path, rounds: int, pip_python: str) -> dict:
    """``wheelmeta metadata SDIST`` against ``pip install --dry-run --no-deps --report``, each a fresh interpreter
    per run, alternating run by run so both see the same load; the median of ``rounds`` runs per tool and sdist."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sdist-pyc-") as pycache:
        # byte-compiled modules, as an installed wheelmeta has them (pip's are compiled at install time too), even
        # where PYTHONDONTWRITEBYTECODE keeps a source checkout free of them: a cache outside the tree, warmed once
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        for requirement in SPEED_RELEASES:
            sdist, _ = find_pair(corpus, requirement)
            if sdist is None:
                raise SystemExit(f"{requirement}: no sdist in {corpus / 'sdist'} (see benchmarks/README.md)")
            rows.append(_speed_row(requirement, sdist, rounds, pip_python, env))
    pip_version = subprocess.run([pip_python, "-m", "pip", "--version"], capture_output=True, text=True).stdout
    return {"rows": rows, "rounds": rounds, "median_ratio": statistics.median(r["ratio"] for r in rows),
            "lowest_ratio": min(r["ratio"] for r in rows),
            "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rows),
            "lowest_cpu_ratio": min(r["cpu_ratio"] for r in rows), "pip": pip_version.split(" from ")[0],
            "isolation": _isolation()}


def _speed_row(requirement: str, sdist: Path, rounds: int, pip_python: str, env: Dict[str, str]) -> dict:
    """One sdist: a warm-up run of each tool (untimed), then ``rounds`` alternating timed runs; the medians."""
    times: Dict[str, List[float]] = {"wheelmeta": [], "pip": []}
    cpu: Dict[str, List[float]] = {"wheelmeta": [], "pip": []}
    with tempfile.TemporaryDirectory(prefix="bench-sdist-") as tmp:
        commands = {
            "wheelmeta": [sys.executable, "-m", "wheelmeta", "metadata", "--json", str(sdist)],
            "pip": [pip_python, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "-q",
                    "--report", f"{tmp}/report.json", str(sdist)],
        }
        pip_error = ""
        for round_ in range(rounds + 1):
            for tool, cmd in commands.items():
                seconds, cpu_seconds, error = _timed(cmd, env)
                if error and tool == "wheelmeta":
                    raise SystemExit(f"{' '.join(cmd)} failed: {error}")
                pip_error = pip_error or error  # pip's time to an error is still its time to an answer's absence
                if round_:
                    times[tool].append(seconds)
                    cpu[tool].append(cpu_seconds)
    wm, pip = statistics.median(times["wheelmeta"]), statistics.median(times["pip"])
    wm_cpu, pip_cpu = statistics.median(cpu["wheelmeta"]), statistics.median(cpu["pip"])
    print(f"{requirement:20} wheelmeta {wm:6.3f}s  pip {pip:6.3f}s  pip/wheelmeta {pip / wm:5.2f}x   "
          f"CPU {wm_cpu:6.3f}s / {pip_cpu:6.3f}s = {pip_cpu / wm_cpu:5.2f}x"
          + (f"\n    pip failed: {pip_error}" if pip_error else ""), flush=True)
    return {"release": requirement, "wheelmeta_s": wm, "pip_s": pip, "ratio": pip / wm, "wheelmeta_cpu_s": wm_cpu,
            "pip_cpu_s": pip_cpu, "cpu_ratio": pip_cpu / wm_cpu, "pip_error": pip_error, "runs": times,
            "cpu_runs": cpu}


def _timed(cmd: List[str], env: Dict[str, str]) -> Tuple[float, float, str]:
    """Wall-clock and CPU seconds (user + system, every process of the run that was waited for) of one run, and
    the last line of its error output when it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    said = done.stderr.decode(errors="replace").strip().splitlines()
    error = (said[-1][:300] if said else f"exit status {done.returncode}") if done.returncode else ""
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), error


def _isolation() -> str:
    from wheelmeta.sdist.sandbox import detect_isolation

    return detect_isolation()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("SDIST_CORPUS", "corpus")),
                        help="folder with sdist/ and wheel/ (see benchmarks/README.md for the download command)")
    parser.add_argument("--list", type=Path, default=HERE / "sdist_corpus.txt", help="name==version per line")
    parser.add_argument("--no-pip", action="store_true", help="skip pip's --report route (agreement only)")
    parser.add_argument("--python", help="interpreter setup.py runs under (wheelmeta's --python)")
    parser.add_argument("--json", type=Path, help="also write every row and the summary as JSON here")
    parser.add_argument("--speed", action="store_true",
                        help=f"only time {', '.join(SPEED_RELEASES)} against pip, cold interpreters, alternating")
    parser.add_argument("--rounds", type=int, default=7, help="runs per tool and sdist with --speed (median)")
    parser.add_argument("--pip-python", default=sys.executable, help="interpreter whose pip is timed with --speed")
    args = parser.parse_args(argv)
    if args.speed:
        result = speed(args.corpus, args.rounds, args.pip_python)
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0
    requirements = [line.strip() for line in args.list.read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    result = run(args.corpus, requirements, not args.no_pip, args.python)
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
