"""The long fuzz run: every target of the registry (tests/fuzz_targets.py), many mutated inputs each.

    python benchmarks/fuzz.py [--runs 500] [--seed 1] [--budget SECONDS] [--time-limit 10] [--memory-mib 1024]
                              [--target NAME ...] [--corpus-wheels N] [--save DIR]

For each target it prints the runs made and the outcomes by class (ok, expected, traceback, hang, memory, crash,
exit-code), then the totals. Failures are listed with the innermost wheelmeta frame; with ``--save DIR`` each
failing input is written to ``DIR/<target>-<run>.bin`` (with a ``.txt`` holding what happened), so it can be
replayed with ``fuzzing.run_one``. The exit status is 1 when any run failed, 0 otherwise.

``--budget`` bounds the wall time of each target (the runs stop early when it is spent); ``--corpus-wheels N``
adds N real wheels from the corpus folders (smaller than 2 MB, chosen by the seed) to the wheel targets' seeds.
Deterministic: the same seed, runs and corpus give the same inputs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fuzz_targets  # noqa: E402
import fuzzing  # noqa: E402

CORPUS_FOLDERS = (Path("/opt/pypi/files"), Path("/opt/pypi-more/files"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Run the fuzz harness over every target for a long round.")
    p.add_argument("--runs", type=int, default=500, help="mutated inputs per target (default 500)")
    p.add_argument("--seed", type=int, default=1, help="the round's seed (default 1)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS", help="wall time per target at most")
    p.add_argument("--time-limit", type=float, default=10.0, metavar="SECONDS",
                   help="one run longer than this is a hang (default 10)")
    p.add_argument("--memory-mib", type=int, default=1024, help="address space a run may add (default 1024 MiB)")
    p.add_argument("--target", action="append", metavar="NAME", help="only this target (repeatable)")
    p.add_argument("--corpus-wheels", type=int, default=0, metavar="N", help="add N real corpus wheels as seeds")
    p.add_argument("--save", metavar="DIR", help="write every failing input (and what happened) to DIR")
    return p.parse_args(argv)


def corpus_wheels(count: int, seed: int):
    found = sorted(p for folder in CORPUS_FOLDERS if folder.is_dir() for p in folder.glob("*.whl")
                   if p.stat().st_size < 2 << 20)
    return random.Random(seed).sample(found, min(count, len(found)))


def save(folder: Path, failure: fuzzing.Failure) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{failure.target}-{failure.run}"
    stem.with_suffix(".bin").write_bytes(failure.data)
    stem.with_suffix(".txt").write_text(f"{failure.outcome.kind}\n{failure.outcome.detail}\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    fuzz_targets.EXTRA_CORPUS_WHEELS[:] = corpus_wheels(args.corpus_wheels, args.seed)
    targets = [t for t in fuzzing.TARGETS if not args.target or t.name in args.target]
    if not targets:
        print(f"fuzz: no target named {', '.join(args.target)}", file=sys.stderr)
        return 2
    print(f"fuzz: seed {args.seed}, {args.runs} runs per target, {len(targets)} targets, "
          f"{len(fuzz_targets.EXTRA_CORPUS_WHEELS)} extra corpus wheels, limit {args.time_limit:g} s and "
          f"{args.memory_mib} MiB per run")
    totals, failures, started = Counter(), [], time.monotonic()
    for target in targets:
        t0 = time.monotonic()
        counts, found = fuzzing.fuzz_target(target, runs=args.runs, seed=args.seed, time_limit=args.time_limit,
                                            memory=args.memory_mib << 20, budget=args.budget)
        totals.update(counts)
        failures += found
        line = "  ".join(f"{kind} {counts[kind]}" for kind in fuzzing.OUTCOMES if counts[kind])
        print(f"{target.name:16} runs {sum(counts.values()):6}  {line}  ({time.monotonic() - t0:.0f} s)", flush=True)
    line = "  ".join(f"{kind} {totals[kind]}" for kind in fuzzing.OUTCOMES)
    print(f"{'total':16} runs {sum(totals.values()):6}  {line}  ({time.monotonic() - started:.0f} s)")
    for failure in failures:
        print(f"FAILURE {failure.target} run {failure.run}: {failure.outcome.kind}: {failure.outcome.detail}")
        if args.save:
            save(Path(args.save), failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
