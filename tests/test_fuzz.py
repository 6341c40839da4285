"""The fuzz harness's short, fixed-seed round: every parser of outside bytes meets mutated real inputs, and no
input gives a traceback, a hang, a memory blow-up, a crash or a usage exit code.

The longer run is ``benchmarks/fuzz.py`` (figures in benchmarks/README.md); both use the registry in
``fuzz_targets.py``.
"""

from __future__ import annotations

import random

import pytest

import fuzzing
from fuzzing import FAILURES, Field, FuzzTarget, fuzz_target, mutate, run_one

ROUND_SEED = 20261201
ROUND_RUNS = 80  # per target: about 25 s for the whole registry on a 2-core machine


@pytest.mark.parametrize("target", fuzzing.TARGETS, ids=lambda t: t.name)
def test_no_mutated_input_gives_a_traceback_hang_or_blow_up(target, capsys):
    counts, failures = fuzz_target(target, runs=ROUND_RUNS, seed=ROUND_SEED, time_limit=20.0)
    with capsys.disabled():
        print(f"\n  fuzz {target.name}: " + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())), end="")
    assert sum(counts.values()) == ROUND_RUNS
    assert not failures, "\n".join(f"run {f.run}: {f.outcome.kind}: {f.outcome.detail}" for f in failures[:5])


def test_mutations_are_deterministic_by_seed():
    target = next(t for t in fuzzing.TARGETS if t.name == "sdist-tar.gz")
    seed = fuzzing.seed_inputs(target)[0]
    first = [mutate(target, seed, random.Random(f"7:{i}")) for i in range(20)]
    again = [mutate(target, seed, random.Random(f"7:{i}")) for i in range(20)]
    assert first == again and len(set(first)) > 10


def test_structure_fields_of_a_zip_name_its_directory_and_local_headers():
    from builders import zip_bytes

    data = zip_bytes({"a.txt": b"hello"})
    fields = fuzzing.zip_fields(data)
    names = [f for f in fields if f.kind == "name"]
    assert len(names) == 2 and all(data[f.offset : f.offset + f.length] == b"a.txt" for f in names)


def _raises(kind: str):
    def run(data: bytes, scratch) -> None:
        if kind == "traceback":
            raise KeyError("boom")
        if kind == "hang":
            while True:
                pass
        if kind == "memory":
            bytearray(8 << 30)
        if kind == "expected":
            from wheelmeta.errors import InvalidArchive

            raise InvalidArchive("x", "bad")

    return FuzzTarget(kind, lambda folder: [b"x"], run)


@pytest.mark.parametrize("kind", ["expected", "traceback", "hang", "memory"])
def test_each_outcome_is_told_apart(kind):
    outcome = run_one(_raises(kind), b"x", time_limit=2.0, memory=256 << 20)
    assert outcome.kind == kind
    assert (kind in FAILURES) == (kind != "expected")


def test_a_cli_usage_exit_code_on_bad_input_is_a_failure():
    outcome = run_one(FuzzTarget("cli", lambda folder: [b"x"], lambda data, scratch: 2), b"x")
    assert outcome.kind == "exit-code"


def test_a_field_mutation_sets_the_field_only():
    data = bytearray(16)
    fuzzing._set_field(data, Field(4, 4), random.Random(3))
    assert data[:4] == bytes(4) and data[8:] == bytes(8)
