"""How much of a wheel corpus the soname map classifies.

Over every wheel given (default: the scan benchmark corpus), audit it with wheelmeta, take the sonames its ELF
members need and the wheel does not carry, and classify each distinct one with the soname map. Prints the number
of distinct sonames, the share classified (anything but ``unknown``), the share per class, the share whose map
entry proves that soname against the nixpkgs source (the evidence rule: file, revision, version -> soname), the
map's entries counted by verified state, and the unknown rest with the wheels that need them.

    python benchmarks/soname_coverage.py                      # the default corpus
    python benchmarks/soname_coverage.py dist/*.whl --map my.toml --json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from typing import Dict, List, Set

from wheelmeta.cli import expand_paths
from wheelmeta.errors import WheelmetaError
from wheelmeta.extract import audit_wheel
from wheelmeta.patchelf_nix.classify import carried_in_wheel, needed_sonames
from wheelmeta.patchelf_nix.sonames import SonameMap

DEFAULT_CORPUS = [
    "/opt/pypi/files",
    "/opt/pypi-more/files",
    "/opt/wheels",
    "/work/corpus/big/tensorflow-2.1.0-*.whl",
]
TARGET = 0.97  # the acceptance figure


def external_needs(paths: List[str]) -> Dict[str, Set[str]]:
    """soname -> names of the wheels that need it and do not carry it (as classification decides carried)."""
    needs: Dict[str, Set[str]] = collections.defaultdict(set)
    for index, path in enumerate(paths, 1):
        try:
            audit = audit_wheel(path)
        except WheelmetaError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        carried = carried_in_wheel(audit)  # what autoPatchelfHook finds in the package itself
        for soname in needed_sonames(audit):
            if soname not in carried:
                needs[soname].add(os.path.basename(path))
        if index % 100 == 0:
            print(f"... {index}/{len(paths)} wheels", file=sys.stderr)
    return needs


def coverage(needs: Dict[str, Set[str]], soname_map: SonameMap) -> dict:
    """The figures: distinct sonames, share classified, per class, verified, and the unknown rest."""
    by_class: Dict[str, List[str]] = collections.defaultdict(list)
    verified = 0
    for soname in sorted(needs):
        entry = soname_map.lookup(soname)
        by_class["unknown" if entry is None else entry.cls].append(soname)
        verified += bool(entry is not None and entry.proves(soname))
    total = len(needs)
    unknown = by_class.get("unknown", [])
    return {
        "distinct_sonames": total,
        "classified": total - len(unknown),
        "classified_share": (total - len(unknown)) / total if total else 1.0,
        "verified_share": verified / total if total else 1.0,
        "verified_sonames": verified,
        "per_class": {cls: len(names) for cls, names in sorted(by_class.items())},
        "map_entries": entry_counts(soname_map),
        "unknown": {soname: sorted(needs[soname]) for soname in unknown},
        "unpackaged": {soname: sorted(needs[soname]) for soname in by_class.get("unpackaged", [])},
    }


def entry_counts(soname_map: SonameMap) -> Dict[str, int]:
    """The map's entries (one per soname or pattern) by verified state, the built-in ones apart from overrides."""
    counts: Dict[str, int] = collections.Counter()
    for entry in soname_map.entries():
        where = "built-in" if entry.origin == "built-in" else "override"
        counts[f"{where} {'verified' if entry.verified else 'unverified'}"] += 1
    return dict(sorted(counts.items()))


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="*", help="wheels, folders or globs (default: the scan corpus)")
    parser.add_argument("--map", metavar="FILE", help="soname map overrides (TOML)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    sources = args.wheels or [p for p in DEFAULT_CORPUS if os.path.exists(p) or "*" in p]
    paths = expand_paths(sources)
    start = time.perf_counter()
    needs = external_needs(paths)
    result = coverage(needs, SonameMap.load(args.map))
    result["wheels"] = len(paths)
    result["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"wheels: {result['wheels']}  ({result['seconds']} s)")
        print(f"distinct sonames needed and not carried: {result['distinct_sonames']}")
        print(f"classified (not unknown): {result['classified']}  = {result['classified_share']:.1%}"
              f"  (target {TARGET:.0%}: {'met' if result['classified_share'] >= TARGET else 'NOT met'})")
        print(f"  of which 'unpackaged' (known, not in nixpkgs): {len(result['unpackaged'])}; classified without "
              f"them: {(result['classified'] - len(result['unpackaged'])) / max(result['distinct_sonames'], 1):.1%}")
        print(f"resting on a map entry that proves the soname (file, revision, version -> soname): "
              f"{result['verified_sonames']} = {result['verified_share']:.1%}")
        print("map entries: " + ", ".join(f"{state} {n}" for state, n in result["map_entries"].items()))
        print("per class: " + ", ".join(f"{cls} {n}" for cls, n in result["per_class"].items()))
        for title, rest in (("unknown", result["unknown"]), ("unpackaged", result["unpackaged"])):
            for soname, wheels in rest.items():
                print(f"  {title}: {soname:<32} <- {', '.join(wheels[:3])}{' ...' if len(wheels) > 3 else ''}")
    return 0 if result["classified_share"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
