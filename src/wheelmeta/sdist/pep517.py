"""Ask a PEP 517 build backend for the metadata, with the hook itself inside the sandbox (``--allow-build`` only).

Two steps, kept apart because they need opposite things:

1. the build requirements (``[build-system] requires``) are installed by the child interpreter's pip into a
   folder inside the tree (``pip install --target``, wheels only, so no sdist's code runs out here). This step
   needs the configured index, so it runs outside the no-network sandbox;
2. ``prepare_metadata_for_build_wheel`` runs through pyproject-hooks, whose subprocess runner is our sandbox:
   no network, the tree the only writable place, the same limits as a setup.py run.

    >>> metadata, isolation = prepare_metadata(Path("/tmp/tree"))          # doctest: +SKIP
    >>> metadata.splitlines()[0], isolation                                 # doctest: +SKIP
    (b'Metadata-Version: 2.1', 'bubblewrap')
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import pyproject_hooks

from ..errors import SandboxError
from ..tomlfile import parse_toml
from .sandbox import Limits, chosen_isolation, interpreter, make_control_dir, run_sandboxed, scrubbed_environment
from .static import toml_table


__all__ = ["BuildSystem", "read_build_system", "install_build_requirements", "prepare_metadata"]

HOOK = "PEP 517 prepare_metadata_for_build_wheel"
_METADATA_CAP = 16 << 20
# What PEP 517 says a frontend assumes when pyproject.toml has no [build-system] table.
_LEGACY = ("setuptools.build_meta:__legacy__", ("setuptools>=40.8.0",))


class BuildSystem(NamedTuple):
    """pyproject.toml's ``[build-system]``: the backend object reference, its requirements and backend-path."""

    backend: str
    requires: Tuple[str, ...]
    backend_path: Tuple[str, ...]


def read_build_system(tree: Path, where: object = None) -> BuildSystem:
    """The tree's ``[build-system]``, or PEP 517's setuptools default when there is none."""
    where = tree if where is None else where
    path = Path(tree) / "pyproject.toml"
    table: Mapping = {}
    if path.is_file():
        table = toml_table(parse_toml(path.read_bytes(), where, SandboxError, what="pyproject.toml"), "build-system")
    backend = table.get("build-backend") or _LEGACY[0]
    requires = table.get("requires", list(_LEGACY[1]) if not table.get("build-backend") else [])
    backend_path = table.get("backend-path", [])
    if not isinstance(backend, str) or not all(isinstance(r, str) for r in requires) \
            or not all(isinstance(p, str) for p in backend_path):
        raise SandboxError(where, "pyproject.toml [build-system] has values of the wrong type")
    return BuildSystem(backend, tuple(requires), tuple(backend_path))


def install_build_requirements(python: str, requires: Sequence[str], target: Path, *,
                               index_urls: Optional[Sequence[str]] = None, find_links: Sequence[str] = (),
                               timeout: float = 300.0, where: object = None) -> None:
    """``pip install --target`` the build requirements, wheels only (installing an sdist would run its code).

    ``index_urls=None`` keeps pip's own configuration; ``[]`` means no index at all (``find_links`` only).
    """
    command = [python, "-m", "pip", "install", "--target", str(target), "--only-binary", ":all:",
               "--no-input", "--disable-pip-version-check", "--no-warn-script-location", "--quiet"]
    if index_urls is not None:
        urls = list(index_urls)
        command += ["--index-url", urls[0], *[a for u in urls[1:] for a in ("--extra-index-url", u)]] \
            if urls else ["--no-index"]
    command += [a for link in find_links for a in ("--find-links", str(link))]
    try:
        done = subprocess.run([*command, "--", *requires], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SandboxError(where, f"installing build requirements timed out after {timeout:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no output)"]
        raise SandboxError(where, f"installing build requirements {', '.join(requires)} failed: {lines[-1]}")


def prepare_metadata(tree: Path, *, python: Optional[str] = None, index_urls: Optional[Sequence[str]] = None,
                     find_links: Sequence[str] = (), timeout: float = 300.0, limits: Optional[Limits] = None,
                     isolation: Optional[str] = None, where: object = None,
                     allow_uncontained: bool = False) -> Tuple[bytes, str]:
    """Run the tree's backend's ``prepare_metadata_for_build_wheel`` in the sandbox; return (METADATA, isolation).

    Raises :class:`SandboxError` naming the step that failed (installing build requirements, the hook, its
    output), and :class:`UncontainedError` before anything is installed where no sandbox level contains the
    filesystem and ``allow_uncontained`` is false.
    """
    tree = Path(tree).resolve()  # resolved once: _read_metadata compares against these real paths
    where = tree if where is None else where
    isolation = isolation or chosen_isolation(where, "the PEP 517 hook", allow_uncontained)
    build_system = read_build_system(tree, where)
    child = interpreter(python)
    control = make_control_dir(tree, "build-env", "metadata", "tmp")
    build_env, metadata_dir, tmp = control / "build-env", control / "metadata", control / "tmp"
    try:
        if build_system.requires:
            install_build_requirements(child.executable, build_system.requires, build_env, index_urls=index_urls,
                                       find_links=find_links, timeout=timeout, where=where)
        runner = _SandboxRunner(tree, child.paths, scrubbed_environment(tree, tmp), build_env, timeout, limits,
                                isolation, where)
        caller = pyproject_hooks.BuildBackendHookCaller(
            str(tree), build_system.backend, list(build_system.backend_path) or None, runner=runner,
            python_executable=child.executable)
        name = _call_hook(caller, metadata_dir, build_system.backend, runner, where)
        return _read_metadata(metadata_dir, name, where, runner.isolation), runner.isolation
    finally:
        shutil.rmtree(control, ignore_errors=True)


class _SandboxRunner:
    """A pyproject-hooks subprocess runner that runs the hook process in the sandbox."""

    def __init__(self, tree: Path, read_only: Sequence[Path], env: Dict[str, str], build_env: Path,
                 timeout: float, limits: Optional[Limits], isolation: Optional[str], where: object) -> None:
        self.tree, self.read_only, self.env, self.build_env = tree, tuple(read_only), env, build_env
        self.timeout, self.limits, self.isolation, self.where = timeout, limits, isolation, where

    def __call__(self, cmd: Sequence[str], cwd: Optional[str] = None,
                 extra_environ: Optional[Mapping[str, str]] = None) -> None:
        python, script, *args = cmd
        control = Path(args[-1]).resolve()  # pyproject-hooks' input.json/output.json folder
        env = {**self.env, **(extra_environ or {}), "PYTHONPATH": str(self.build_env)}
        run = run_sandboxed([python, "-s", "-B", script, *args], self.tree, timeout=self.timeout,
                            limits=self.limits, isolation=self.isolation, env=env,
                            read_only=(*self.read_only, Path(script).resolve().parent), writable=(control,))
        self.isolation = run.isolation
        if run.timed_out:
            self._fail(f"timed out after {self.timeout:g} s")
        if run.returncode != 0 and run.cpu_seconds >= (self.limits or Limits()).cpu_limit(self.timeout) - 0.5:
            self._fail("killed: CPU time limit")
        if run.signal:
            self._fail(f"killed by {signal.Signals(run.signal).name}")
        if run.returncode != 0:
            self._fail(f"exited with status {run.returncode}: {run.last_output_line()}")

    def _fail(self, reason: str) -> None:
        raise SandboxError(self.where, f"{HOOK} {reason} (sandbox: {self.isolation})")


def _call_hook(caller: pyproject_hooks.BuildBackendHookCaller, metadata_dir: Path, backend: str,
               runner: _SandboxRunner, where: object) -> str:
    try:
        return caller.prepare_metadata_for_build_wheel(str(metadata_dir))
    except pyproject_hooks.BackendUnavailable as error:
        detail = (getattr(error, "message", "") or str(error.traceback).strip().splitlines()[-1:] or [""])
        detail = detail if isinstance(detail, str) else detail[0]
        raise SandboxError(where, f"{HOOK}: backend {backend!r} is not available: {detail} "
                                  f"(sandbox: {runner.isolation})") from None
    except pyproject_hooks.HookMissing:
        raise SandboxError(where, f"{HOOK}: backend {backend!r} has no such hook") from None
    except (OSError, ValueError) as error:  # output.json missing or not JSON: the hook process misbehaved
        raise SandboxError(where, f"{HOOK} gave no usable answer: {error} (sandbox: {runner.isolation})") from None


def _read_metadata(metadata_dir: Path, name: object, where: object, isolation: Optional[str]) -> bytes:
    """The METADATA the hook wrote; the name and the file come from sandboxed code, so both are checked."""
    if not isinstance(name, str) or not name.endswith(".dist-info") or Path(name).name != name:
        raise SandboxError(where, f"{HOOK} returned {name!r}, not a .dist-info folder name")
    path = metadata_dir / name / "METADATA"
    # Every sandboxed process is dead by now, so nothing can swap a component between this check and the read.
    if path.resolve() != path or not path.is_file():
        raise SandboxError(where, f"{HOOK} wrote no regular file {name}/METADATA (sandbox: {isolation})")
    with open(path, "rb") as metadata:
        data = metadata.read(_METADATA_CAP + 1)
    if len(data) > _METADATA_CAP:
        raise SandboxError(where, f"{HOOK} wrote a METADATA file over {_METADATA_CAP >> 20} MiB")
    return data
