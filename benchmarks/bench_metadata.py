"""Wheel metadata: wheelmeta.read_metadata against pkginfo.Wheel on the same wheels, in one run.

    python benchmarks/bench_metadata.py /opt/pypi/files /opt/pypi-more/files [--repeat 3]

Prints wheels per second for each tool (each wheel read by both back to back, best of ``--repeat`` passes per
wheel, so both see the same page cache and the same machine load), the ratio, and an agreement check for every wheel: wheelmeta against
``packaging.metadata.parse_email`` of the same METADATA (read with ``zipfile``, independent of wheelmeta's zip
code) on name (canonical), version, requires_dist (``str(Requirement)`` lists, lines packaging refuses left out)
and requires_python (``SpecifierSet`` equality); and pkginfo against wheelmeta on the same four fields.
Exit status 1 when any wheel disagrees.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pkginfo
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

import wheelmeta
from wheelmeta.sources import LocalFileSource
from wheelmeta.wheels.zipdir import ZipDirectory

Facts = Tuple[str, str, Tuple[str, ...], Optional[SpecifierSet]]


def collect(folders: Sequence[str]) -> List[Path]:
    wheels = sorted({p for folder in folders for p in Path(folder).glob("*.whl")})
    if not wheels:
        sys.exit(f"no .whl files in {', '.join(folders)}")
    return wheels


def time_interleaved(readers: Dict[str, object], wheels: List[Path], repeat: int) -> Dict[str, List[float]]:
    """Seconds per tool and wheel: each wheel's best time over ``repeat`` passes.

    Both tools read a wheel back to back (in alternating order from pass to pass), so a burst of load on a
    shared machine hits both alike; the per-wheel minimum then drops what load remains.
    """
    best = {tool: [float("inf")] * len(wheels) for tool in readers}
    order = list(readers)
    for round_ in range(repeat):
        tools = order if round_ % 2 == 0 else order[::-1]
        for i, wheel in enumerate(wheels):
            for tool in tools:
                start = time.perf_counter()
                try:
                    readers[tool](wheel)
                except Exception:  # counted in the agreement pass; a failure must not stop the timing
                    pass
                best[tool][i] = min(best[tool][i], time.perf_counter() - start)
    return best


def print_by_size(wheels: List[Path], best: Dict[str, List[float]]) -> None:
    """The ratio by number of members: where the central directory is big, reading it raw pays most."""
    members = []
    for wheel in wheels:
        with LocalFileSource(wheel) as source:
            members.append(ZipDirectory.read(source).entry_count)
    for low, high in ((0, 50), (50, 200), (200, 1000), (1000, 5000), (5000, None)):
        chosen = [i for i, n in enumerate(members) if n >= low and (high is None or n < high)]
        if not chosen:
            continue
        slow, fast = (sum(best[tool][i] for i in chosen) for tool in ("pkginfo", "wheelmeta"))
        label = f"{low}-{high - 1}" if high else f"{low}+"
        print(f"  {label:>10} members: {len(chosen):4d} wheels, pkginfo {slow * 1e3 / len(chosen):7.3f} ms, "
              f"wheelmeta {fast * 1e3 / len(chosen):6.3f} ms, ratio {slow / fast:5.1f}x")


def read_pkginfo(wheel: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkginfo warns about Metadata-Versions newer than it knows
        return pkginfo.Wheel(str(wheel))


def read_wheelmeta(wheel: Path):
    return wheelmeta.read_metadata(wheel)


def _requirement_strings(values) -> Tuple[str, ...]:
    out = []
    for value in values or ():
        try:
            out.append(str(Requirement(value)))
        except InvalidRequirement:
            pass
    return tuple(out)


def _specifier(value: Optional[str]) -> Optional[SpecifierSet]:
    try:
        return SpecifierSet(value) if value else None
    except InvalidSpecifier:
        return None


def reference_facts(wheel: Path) -> Facts:
    """name, version, requires_dist, requires_python as packaging.metadata.parse_email reads them."""
    with zipfile.ZipFile(wheel) as zf:
        (metadata_name,) = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        raw, _unparsed = parse_email(zf.read(metadata_name))
    return (
        canonicalize_name(raw["name"]),
        raw["version"],
        _requirement_strings(raw.get("requires_dist")),
        _specifier(raw.get("requires_python")),
    )


def wheelmeta_facts(wheel: Path) -> Facts:
    md = read_wheelmeta(wheel)
    return canonicalize_name(md.name), md.version, tuple(str(r) for r in md.requires_dist), md.requires_python


def pkginfo_facts(wheel: Path) -> Facts:
    info = read_pkginfo(wheel)
    return (
        canonicalize_name(info.name),
        info.version,
        _requirement_strings(info.requires_dist),
        _specifier(info.requires_python),
    )


def compare(wheels: List[Path]) -> Dict[str, List[str]]:
    """Disagreements per check, each one line naming the wheel and the differing fields."""
    found: Dict[str, List[str]] = {"wheelmeta vs parse_email": [], "pkginfo vs wheelmeta": []}
    fields = ("name", "version", "requires_dist", "requires_python")
    for wheel in wheels:
        facts = {}
        for label, read in (("reference", reference_facts), ("wheelmeta", wheelmeta_facts), ("pkginfo", pkginfo_facts)):
            try:
                facts[label] = read(wheel)
            except Exception as exc:
                facts[label] = f"error: {type(exc).__name__}: {exc}"
        for check, (left, right) in (
            ("wheelmeta vs parse_email", ("wheelmeta", "reference")),
            ("pkginfo vs wheelmeta", ("pkginfo", "wheelmeta")),
        ):
            a, b = facts[left], facts[right]
            if isinstance(a, str) or isinstance(b, str):
                if a != b:
                    found[check].append(f"{wheel.name}: {left}={a!s:.120} {right}={b!s:.120}")
                continue
            differing = [f"{f}: {x!r} != {y!r}" for f, x, y in zip(fields, a, b) if x != y]
            if differing:
                found[check].append(f"{wheel.name}: " + "; ".join(differing))
    return found


def _metadata_version(wheel: Path) -> Optional[str]:
    try:
        return read_wheelmeta(wheel).metadata_version
    except Exception as exc:
        return f"unreadable ({type(exc).__name__})"


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders holding .whl files")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; each wheel's best pass counts")
    args = parser.parse_args(argv)
    wheels = collect(args.folders)
    size = sum(w.stat().st_size for w in wheels)
    print(f"corpus: {len(wheels)} wheels, {size / 1e9:.2f} GB, from {', '.join(args.folders)}")
    versions = Counter(_metadata_version(w) for w in wheels)
    print("Metadata-Version: " + ", ".join(f"{v} x{n}" for v, n in sorted(versions.items(), key=str)))
    print(f"wheelmeta {wheelmeta.__version__}, pkginfo {_version_of('pkginfo')}, packaging {_version_of('packaging')}, "
          f"python {sys.version.split()[0]}")

    per_wheel = time_interleaved({"pkginfo": read_pkginfo, "wheelmeta": read_wheelmeta}, wheels, args.repeat)
    best = {tool: sum(times) for tool, times in per_wheel.items()}
    for tool, seconds in best.items():
        print(f"{tool:>10}: {len(wheels) / seconds:8.0f} wheels/s  ({seconds * 1e3 / len(wheels):.3f} ms/wheel)")
    print(f"     ratio: wheelmeta is {best['pkginfo'] / best['wheelmeta']:.1f}x faster than pkginfo.Wheel")
    print_by_size(wheels, per_wheel)

    disagreements = compare(wheels)
    for check, lines in disagreements.items():
        print(f"agreement, {check}: {len(wheels) - len(lines)}/{len(wheels)} wheels agree")
        for line in lines:
            print(f"  {line}")
    return 1 if any(disagreements.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
