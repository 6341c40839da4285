"""``wheelmeta lock``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from ..errors import UsageError
from ..store import default_store_path
from .choose import _choose_preference as preference_from_args
from .choose import add_index_and_preference_options
from .common import ProgressBar as _Progress  # noqa: N814 - the name its call sites have always used
from .common import (
    add_store_options,
    add_target_options,
    print_json,
    split_commas,
    target_from_args,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "lock",
        help="resolve requirements for a target into a PEP 751 pylock.toml",
        description="Resolve requirements (strings, pip requirement files, a pyproject.toml's [project] "
        "dependencies, a script's PEP 723 metadata) for a target with resolvelib, and write a pylock.toml that lists "
        "each package's wheel for the target and its sdist, with the wheel's native Nix inputs under "
        "[packages.tool.wheelmeta.nix]. Facts are kept in the metadata store, so a second lock is fast and "
        "--offline needs no network.",
    )
    p.add_argument("items", nargs="*", metavar="REQ|FILE",
                   help="a requirement (\"numpy>=1.17\", \"name @ URL\"), a requirements .txt/.in file, a "
                   "pyproject.toml, or a .py script with a '# /// script' block")
    p.add_argument("-r", "--requirement", metavar="FILE", action="append", default=[],
                   help="a pip requirements file (-r/-c includes, index options, --hash pins); repeatable")
    p.add_argument("-c", "--constraint", metavar="FILE", action="append", default=[],
                   help="a pip constraints file: narrows versions without requiring; repeatable")
    p.add_argument("--extras", metavar="NAMES", action="append",
                   help="optional-dependencies of the pyproject.toml to include (comma-separated); repeatable")
    p.add_argument("-o", "--output", metavar="FILE", default="pylock.toml", help="the lock file (default: %(default)s)")
    p.add_argument("--env", metavar="FILE", help="also write the Nix environment of the lock to FILE, as "
                   "'wheelmeta env' does: requirements in, env.nix out, in one command")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--offline", action="store_true",
                   help="resolve from the metadata store alone; a fact it lacks is an error naming the project")
    add_store_options(p, "the metadata store file to use, or a snapshot of `wheelmeta crawl --export` (validated, "
                         "with --offline; its indexes are the default ones)")
    p.add_argument("--refresh", action="store_true",
                   help="revalidate every stored index page with the index, even while its Cache-Control max-age "
                   "says it is fresh")
    p.add_argument("--sdists", choices=("needed", "all"), default="needed",
                   help="read the sdists of packages without a wheel for the target only (needed, the default), or "
                   "every locked sdist for its build requirements and dependencies (all)")
    p.add_argument("--map", metavar="FILE", help="soname map overrides (TOML) for the Nix inputs")
    p.add_argument("--jobs", type=int, default=8, metavar="N", help="parallel scans of locked wheels (default 8)")
    add_target_options(p)
    add_index_and_preference_options(p)
    p.set_defaults(run=run)


@contextlib.contextmanager
def _opened_store(args: argparse.Namespace):
    """(the store, the indexes a snapshot was crawled from, [None] otherwise). A snapshot is validated and imported
    into a temporary store that lives as long as the lock takes."""
    from ..store import MetadataStore

    if not args.store or not _is_snapshot(args.store):
        path = args.store or default_store_path(args.cache_dir)
        with MetadataStore(path, readonly=args.offline) as store:
            yield store, [None]
        return
    if not args.offline:
        raise UsageError("--store", f"{args.store} is a snapshot, which is read-only: add --offline")
    from ..crawl import import_snapshot

    with tempfile.TemporaryDirectory(prefix="wheelmeta-snapshot-") as folder:
        header = import_snapshot(args.store, os.path.join(folder, "store.sqlite"))
        with MetadataStore(os.path.join(folder, "store.sqlite"), readonly=True) as store:
            store.path = Path(args.store)  # errors name the snapshot the user gave, not the temporary copy
            yield store, header["indexes"] or [None]


def _is_snapshot(path: str) -> bool:
    from ..crawl import is_snapshot  # the crawler's modules are loaded only for a --store that names a file

    return is_snapshot(path)


def run(args: argparse.Namespace) -> int:
    from ..index.config import IndexConfig
    from ..patchelf_nix.sonames import SonameMap
    from ..resolve.facts import Facts, StoreIndexClient
    from ..resolve.inputs import LockInputs
    from ..resolve.lockfile import lock_document, render_lock
    from ..resolve.provider import resolve
    from ..target import Target

    if args.jobs < 1:
        raise UsageError("--jobs", "must be at least 1")
    if args.refresh and args.offline:
        raise UsageError("--refresh", "cannot be combined with --offline (it asks the index)")
    inputs = LockInputs.from_arguments(args.items, args.requirement, args.constraint, split_commas(args.extras))
    target = target_from_args(args) or Target.from_host()
    _check_requires_python(inputs, target)
    preference = preference_from_args(args)
    soname_map = SonameMap.load(args.map)
    with _opened_store(args) as (store, snapshot_indexes):
        config = IndexConfig.from_pip(index_url=args.index_url or inputs.index_url or snapshot_indexes[0],
                                      extra_index_urls=[*(args.extra_index_url or ()), *inputs.extra_index_urls,
                                                        *snapshot_indexes[1:]],
                                      find_links=[*(args.find_links or ()), *inputs.find_links],
                                      no_index=args.no_index or inputs.no_index,
                                      cache_dir=None if args.store else str(store.path.parent))
        http = config.http_client()
        index = StoreIndexClient(store, config.index_urls(), config.find_links, http, offline=args.offline,
                                 refresh=args.refresh)
        facts = Facts(store, index, target, offline=args.offline)
        try:
            with _Progress("resolving", args) as progress:
                resolution = resolve(inputs.requirements, facts, preference,
                                     constraints=_constraints(inputs, target, config), origins=inputs.origins,
                                     on_pin=progress.step)
        finally:
            facts.close()
        wheels = sum(1 for p in resolution.packages.values() if p.candidate.wheel is not None)
        with _Progress("scanning", args, total=wheels) as progress:
            document = lock_document(resolution, facts, soname_map=soname_map, sdists=args.sdists,
                                     hashes=inputs.hashes, hash_origins=inputs.hash_origins, jobs=args.jobs,
                                     on_scan=progress.step)
        text = render_lock(document)
        _write_atomically(args.output, text)
        if args.env:
            from ..patchelf_nix.environment import read_pylock
            from .env import write_environment

            write_environment(read_pylock(args.output), args.env, lock_path=args.output)
        summary = {
            "output": args.output,
            "env": args.env,
            "packages": len(resolution.packages),
            "target": target.describe(),
            "rounds": resolution.rounds,
            "requests": http.requests,
            "bytes_received": http.bytes_received,
            "store": {"path": str(store.path), "facts_read": store.reads, "facts_written": store.writes},
            "locked": {name: str(p.version) for name, p in resolution.packages.items()},
        }
    if args.json:
        print_json(summary)
    elif not args.quiet:
        print(f"wheelmeta: locked {summary['packages']} packages for {summary['target']} into {args.output} "
              f"({http.requests} requests, {store.reads} facts from the store)", file=sys.stderr)
    return 0


def _constraints(inputs, target, config):
    """-c lines and pip's configured constraints files (``constraint`` / ``PIP_CONSTRAINT``, as pip and
    ``choose`` bind them) whose markers hold on the target, merged per project."""
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name

    from ..index.constraints import Constraints

    env = target.marker_environment()
    configured = [c.requirement for c in Constraints.from_files(config.constraint_files).items]
    out = {}
    for req in [*inputs.constraints, *configured]:
        if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
            name = canonicalize_name(req.name)
            out[name] = out.get(name, SpecifierSet()) & req.specifier
    return out


def _check_requires_python(inputs, target) -> None:
    """A project that says it needs another Python than the target's is a usage error, not a silent lock."""
    if not inputs.requires_python:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(inputs.requires_python)
    except InvalidSpecifier as exc:
        raise UsageError("requires-python", f"{inputs.requires_python!r}: {exc}") from None
    python = target.marker_environment()["python_full_version"]
    if not spec.contains(python, prereleases=True):
        raise UsageError("requires-python", f"the project asks for Python {spec}; the target has {python} "
                                            "(choose another --python-version)")


def _write_atomically(path: str, text: str) -> None:
    """Write next to the destination, then rename: a reader never sees half a lock."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(prefix=".pylock-", suffix=".toml", dir=folder)
    except OSError as exc:
        raise UsageError(path, f"cannot write here: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a lock is an ordinary file
        os.replace(temporary, path)
    except OSError as exc:
        os.unlink(temporary)
        raise UsageError(path, f"cannot write: {exc.strerror or exc}") from None
