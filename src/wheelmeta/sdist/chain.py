"""``read_sdist_metadata``: the chain of ways to learn an sdist's dependencies, first answer wins.

1. ``pkg-info-static``: PKG-INFO, Metadata-Version >= 2.2, no dependency field Dynamic (PEP 643);
2. ``pep621``: pyproject.toml ``[project]`` with static dependency keys;
3. ``poetry``: ``[tool.poetry]`` converted; ``setup-cfg``: setup.cfg ``[options]``, only when no setup.py could
   change it (no setup.py, or the trivial ``setup()`` shim);
4. ``setup-py-sandboxed``: setup.py run under a patched ``setup()`` in the sandbox;
5. ``pep517-hook``: ``prepare_metadata_for_build_wheel`` in the sandbox, only with ``allow_build=True``.

Where no sandbox level contains the filesystem, steps 4 and 5 do not run unless ``allow_uncontained=True``: the
answer is then ``static-partial``, what the static files say, with a problem that says why and names the opt-in.

Static steps read the archive in one streaming pass and never unpack it; the sandbox steps unpack it below a fresh
temporary folder that is removed afterwards. When every step fails, the error lists each step and why::

    >>> md = read_sdist_metadata("requests-2.22.0.tar.gz")                      # doctest: +SKIP
    >>> md.provenance, md.isolation                                               # doctest: +SKIP
    ('setup-py-sandboxed', 'netns')
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..errors import InterpreterError, MetadataError, SandboxError, UncontainedError, WheelmetaError
from ..model import DistMetadata
from .archive import SDIST_SUFFIXES, ArchiveLimits, SdistFiles, extract_tree, open_sdist
from .poetry import poetry_metadata
from .requirements import parse_requirements
from .static import (
    build_system_requires,
    is_trivial_setup_py,
    load_pyproject,
    pkg_info_headers,
    pkg_info_metadata,
    pyproject_metadata,
    read_setup_cfg,
    setup_cfg_metadata,
    toml_table,
)

__all__ = ["read_sdist_metadata", "interpreter_failure", "LEGACY_BUILD_REQUIRES"]

#: what pip installs to build an sdist without [build-system] (PEP 517's fallback plus wheel)
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")

_METADATA_FILES = frozenset({"PKG-INFO", "pyproject.toml", "setup.cfg", "setup.py"})
_SHM = "/dev/shm"


def read_sdist_metadata(
    path: Union[str, os.PathLike],
    *,
    python: Optional[str] = None,
    allow_build: bool = False,
    index_urls: Optional[Sequence[str]] = None,
    timeout: float = 60.0,
    allow_uncontained: bool = False,
    fallback_pythons: Sequence[str] = (),
) -> DistMetadata:
    """The dependency metadata of a local sdist; ``provenance`` says which step of the chain answered.

    ``python`` is the interpreter setup.py runs under (default: the running one); when setup.py fails there in the
    sandbox, it is run again under each of ``fallback_pythons`` in turn until one answers (an old setup.py that
    needs Python 2 or an older stdlib); the answer then carries a problem naming the interpreters that failed and
    the one that answered, and ``python_version`` is the answering one's. An interpreter that does not run is
    skipped, noted in that problem (or in the error when none answers). ``allow_build`` permits the
    PEP 517 hook, which installs build requirements from ``index_urls`` (default: pip's configuration).
    ``allow_uncontained`` lets that code run where no sandbox level contains the filesystem (see the module).
    Raises InvalidSdist for a hostile or broken archive and MetadataError/SandboxError naming every step that
    failed and why.
    """
    source = os.fspath(path)
    archive = open_sdist(source)
    files = archive.read_files(lambda rel: rel in _METADATA_FILES)
    name, version = _name_and_version(source, files)
    tried: List[str] = []
    problems: List[str] = []
    pyproject = _pyproject_or_problem(source, files, problems)
    build_requires = build_system_requires(pyproject, problems) if pyproject else []
    if not toml_table(pyproject, "build-system").get("requires") and "setup.py" in files.names:
        build_requires = [Requirement(r) for r in LEGACY_BUILD_REQUIRES]

    for step in (_step_pkg_info, _step_pep621, _step_poetry, _step_setup_cfg):
        answer, why = _static_step(step, source, files, pyproject, name, version, archive)
        if answer is not None:
            return _finish(answer, name, version, build_requires, problems)
        tried.append(why)

    if "setup.py" in files.names:
        try:
            answer = _with_legacy_wheel_requirements(
                _setup_py_under_each(source, [python, *fallback_pythons], timeout, name, version, allow_uncontained),
                files.data.get("setup.cfg"),
            )
            return _finish(answer, name, version, build_requires, problems)
        except UncontainedError as refused:
            answer = _static_part(source, files, archive, name, version, refused)
            return _finish(answer, name, version, build_requires, problems)
        except InterpreterError as exc:  # the PEP 517 route would need the same interpreter: say so now
            raise interpreter_failure(source, exc) from None
        except SandboxError as exc:
            tried.append(f"setup.py in the sandbox failed: {exc.reason}")
    else:
        tried.append("no setup.py to run")

    if not allow_build:
        raise MetadataError(source, "no static metadata and no setup.py answer (" + "; ".join(problems + tried) +
                            "); pass --allow-build to run the PEP 517 hook")
    try:
        answer = _step_pep517(source, python, index_urls, timeout, allow_uncontained)
        return _finish(answer, name, version, build_requires, problems)
    except UncontainedError as refused:
        answer = _static_part(source, files, archive, name, version, refused)
        return _finish(answer, name, version, build_requires, problems)
    except InterpreterError as exc:
        raise interpreter_failure(source, exc) from None
    except WheelmetaError as exc:
        tried.append(f"PEP 517 hook failed: {exc.reason}")
    raise SandboxError(source, "every step failed: " + "; ".join(problems + tried))


def interpreter_failure(source: str, error: InterpreterError, why: str = "") -> InterpreterError:
    """One line naming the sdist, the interpreter its code was to run under (and ``why`` that one), and what
    went wrong with it."""
    chosen = f"{error.interpreter} ({why})" if why else error.interpreter
    return InterpreterError(source, f"the interpreter {chosen} does not work: {error.detail}; name a working one "
                            "with --python PATH", interpreter=error.interpreter, detail=error.detail)


def _finish(
    answer: DistMetadata,
    name: str,
    version: str,
    build_requires: List[Requirement],
    problems: List[str],
) -> DistMetadata:
    """Fill what the step did not know: name/version from PKG-INFO, [build-system] requires, archive problems."""
    build = list(build_requires) + list(answer.build_requires)
    return replace(
        answer,
        name=answer.name or name,
        version=answer.version or version,
        build_requires=tuple(_unique(build)),
        problems=tuple(problems) + tuple(answer.problems),
    )


def _unique(reqs: Sequence[Requirement]) -> List[Requirement]:
    seen, out = set(), []
    for r in reqs:
        if str(r) not in seen:
            seen.add(str(r))
            out.append(r)
    return out


def _static_step(step, source, files, pyproject, name, version, archive):
    """One static step; a value of a type the step did not expect (a TOML table where a string belongs, a
    number where a table belongs) makes the step give no answer, with the reason, instead of a traceback."""
    try:
        return step(source, files, pyproject, name, version, archive)
    except (TypeError, AttributeError) as exc:
        return None, f"{step.__name__[len('_step_'):]}: a value has an unexpected type ({exc})"


def _pyproject_or_problem(source: str, files: SdistFiles, problems: List[str]) -> dict:
    """pyproject.toml parsed; broken TOML is a problem, not the end: PKG-INFO or setup.py may still answer."""
    if "pyproject.toml" not in files.data:
        return {}
    try:
        return load_pyproject(files.data["pyproject.toml"], source=source)
    except MetadataError as exc:
        problems.append(exc.reason)
        return {}


def _name_and_version(source: str, files: SdistFiles) -> Tuple[str, str]:
    """Name and version from PKG-INFO when present, else from the file name (``name-version.tar.gz``)."""
    if "PKG-INFO" in files.data:
        headers = pkg_info_headers(files.data["PKG-INFO"])
        if headers.get("Name") and headers.get("Version"):  # str(): odd bytes give Header objects
            return str(headers["Name"]).strip(), str(headers["Version"]).strip()
    base = os.path.basename(source)
    suffix = next((s for s in SDIST_SUFFIXES if base.lower().endswith(s)), "")
    name, _, version = base[: len(base) - len(suffix)].rpartition("-")
    return (name, version) if name else (version, "")


# Each static step: (source, files, pyproject, name, version, archive) -> (DistMetadata | None, why not)


def _step_pkg_info(source, files, pyproject, name, version, archive):
    if "PKG-INFO" not in files.data:
        return None, "no PKG-INFO"
    return pkg_info_metadata(files.data["PKG-INFO"], source=source)


def _step_pep621(source, files, pyproject, name, version, archive):
    if not pyproject:
        return None, "no readable pyproject.toml" if "pyproject.toml" in files.data else "no pyproject.toml"
    return pyproject_metadata(
        pyproject, source=source, name=name, version=version, read_file=_archive_reader(archive, files)
    )


def _step_poetry(source, files, pyproject, name, version, archive):
    if not pyproject:
        return None, "no [tool.poetry]"
    return poetry_metadata(pyproject, source=source, name=name, version=version)


def _step_setup_cfg(source, files, pyproject, name, version, archive):
    if "setup.cfg" not in files.data:
        return None, "no setup.cfg"
    if "setup.py" in files.data and not is_trivial_setup_py(files.data["setup.py"]):
        return None, "setup.py is more than the setup() shim, so setup.cfg is not the whole truth"
    backend = str(toml_table(pyproject, "build-system").get("build-backend") or "setuptools")
    if "setup.py" not in files.data and not backend.startswith("setuptools"):
        return None, f"setup.cfg is not read by the build backend {backend!r}"
    fields = read_setup_cfg(
        files.data["setup.cfg"].decode("utf-8", "replace"), source=source, read_file=_archive_reader(archive, files)
    )
    return setup_cfg_metadata(fields, source=source, name=name, version=version), ""


def _archive_reader(archive, files: SdistFiles) -> Callable[[str], Optional[bytes]]:
    """Read one more file for a setup.cfg ``file:`` directive (a second streaming pass, only when asked)."""

    def read(rel: str) -> Optional[bytes]:
        rel = os.path.normpath(rel).replace(os.sep, "/")
        return archive.read_files(lambda name: name == rel).data.get(rel)

    return read


def _static_part(source: str, files: SdistFiles, archive, name: str, version: str,
                 refused: UncontainedError) -> DistMetadata:
    """What the sdist says without running its code, when running it was refused: setup.cfg's ``[options]``
    (setup.py may change them), else PKG-INFO's fields, else name and version. The first problem says why that is
    all, and how to allow the run."""
    from ..wheels.metadata import parse_metadata

    problems = [f"{refused.reason}; what follows is only what the static files say"]
    answer = None
    try:
        if "setup.cfg" in files.data:
            fields = read_setup_cfg(files.data["setup.cfg"].decode("utf-8", "replace"), source=source,
                                    read_file=_archive_reader(archive, files))
            answer = setup_cfg_metadata(fields, source=source, name=name, version=version)
        elif "PKG-INFO" in files.data:
            answer = parse_metadata(files.data["PKG-INFO"], source=source)
    except MetadataError as exc:
        problems.append(exc.reason)
    answer = answer or DistMetadata(name=name, version=version, source=source)
    return replace(answer, provenance="static-partial", problems=tuple(problems) + answer.problems)


def _step_setup_py(source: str, python: Optional[str], timeout: float, name: str, version: str,
                   allow_uncontained: bool) -> DistMetadata:
    """Unpack below a fresh temporary folder and run setup.py under the patched setup() in the sandbox."""
    try:
        from .sandbox import run_setup_py, warm_up
    except ImportError as exc:  # pragma: no cover - the sandbox module is part of the package
        raise SandboxError(source, f"the sandbox is not available: {exc}") from None
    # the sandbox's probes start processes of their own: let them run on another core while this one unpacks
    probe = threading.Thread(target=warm_up, daemon=True)
    probe.start()
    try:
        with _unpacked(source) as tree:
            probe.join()
            result = run_setup_py(tree, python=python, timeout=timeout, where=source,
                                  allow_uncontained=allow_uncontained)
    finally:
        probe.join()
    fields = result.fields
    answer = setup_cfg_metadata(
        fields,
        source=source,
        name=str(fields.get("name") or name),
        version=str(fields.get("version") or version),
        provenance="setup-py-sandboxed",
    )
    # the shim's warnings (e.g. setuptools could not merge setup.cfg) qualify the answer: keep them visible
    problems = answer.problems + tuple(f"setup.py: {w}" for w in result.warnings)
    return replace(answer, isolation=result.isolation, python_version=result.python_version, problems=problems)


def _setup_py_under_each(source: str, pythons: Sequence[Optional[str]], timeout: float, name: str, version: str,
                         allow_uncontained: bool) -> DistMetadata:
    """setup.py run under ``pythons[0]`` (None: the running interpreter), then, only where it failed in the sandbox,
    under each next one until one answers. A fallback's answer says so in one problem (who failed, why, who
    answered), first among its problems. An interpreter that does not run is skipped when there are others; with
    none other, its InterpreterError is raised as before. When none answers, one SandboxError names each try."""
    failures: List[str] = []
    for python in pythons:
        label = _interpreter_label(python)
        try:
            answer = _step_setup_py(source, python, timeout, name, version, allow_uncontained)
        except UncontainedError:  # nothing ran: no other interpreter would run either
            raise
        except InterpreterError as exc:
            if len(pythons) == 1:
                raise
            failures.append(f"{label} does not work ({_brief(exc.detail or exc.reason)})")
            continue
        except SandboxError as exc:
            if len(pythons) == 1:
                raise
            failures.append(f"under {label}: {_brief(exc.reason)}")
            continue
        if failures:
            line = (f"setup.py failed {'; '.join(failures)}; answered under the fallback {label} "
                    f"(Python {answer.python_version})")
            answer = replace(answer, problems=(line,) + answer.problems)
        return answer
    raise SandboxError(source, "setup.py failed under every interpreter: " + "; ".join(failures))


def _interpreter_label(python: Optional[str]) -> str:
    return python or f"{sys.executable} (the running interpreter)"


def _brief(reason: str, limit: int = 160) -> str:
    """A failure's reason on one short line without the words the problem already says (``setup.py``, the
    sandbox level): the problem names it, the full text is a re-run away."""
    line = re.sub(r"\s*\(sandbox: [^)]*\)$", "", " ".join(reason.split()))
    line = line[len("setup.py "):] if line.startswith("setup.py ") else line
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _with_legacy_wheel_requirements(answer: DistMetadata, setup_cfg: Optional[bytes]) -> DistMetadata:
    """wheel before 0.31 wrote setup.cfg's ``[metadata] requires-dist`` / ``provides-extra`` into the wheel in place
    of what setup.py said, often the same list with markers where setup.py branched on the running Python. Where
    the two agree on the Python setup.py ran under, setup.cfg's is the answer (it holds for every Python, as the
    published wheels do); where they differ, later wheel versions' rule stands (setup.py's) and the difference is
    named in ``problems``."""
    declared = _setup_cfg_requires_dist(setup_cfg)
    if declared is None:
        return answer
    problems = list(answer.problems)
    requires = parse_requirements(declared[0], "setup.cfg [metadata] requires-dist", problems)
    extras = set(declared[1]) | set(answer.provides_extra)
    if _applicable(requires, extras, answer.python_version) == _applicable(answer.requires_dist, extras,
                                                                           answer.python_version):
        return replace(answer, requires_dist=tuple(requires), provides_extra=tuple(declared[1]) or
                       answer.provides_extra, problems=tuple(problems))
    problems.append("setup.cfg [metadata] requires-dist, which wheel < 0.31 wrote into wheels in place of setup.py's "
                    f"requirements, differs from what setup.py said under Python {answer.python_version}: "
                    + ", ".join(declared[0]))
    return replace(answer, problems=tuple(problems))


def _setup_cfg_requires_dist(setup_cfg: Optional[bytes]) -> Optional[Tuple[List[str], List[str]]]:
    """(requires-dist lines, provides-extra names) of setup.cfg's ``[metadata]``, None when it names neither."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string((setup_cfg or b"").decode("utf-8", "replace"))
    except configparser.Error:  # setup.py ran with it, so setuptools read it somehow; nothing to take from it
        return None
    if not parser.has_section("metadata"):
        return None
    metadata = {key.replace("-", "_"): value for key, value in parser.items("metadata")}
    if "requires_dist" not in metadata and "provides_extra" not in metadata:
        return None
    lines = [line.strip() for line in metadata.get("requires_dist", "").splitlines() if line.strip()]
    return lines, metadata.get("provides_extra", "").split()


def _applicable(requires: Sequence[Requirement], extras, python_version: Optional[str]) -> set:
    """(name, specifier, extra) of every requirement that applies on this machine under ``python_version``, for no
    extra and for each of ``extras``: two lists that give the same set say the same thing there."""
    environment = default_environment()
    if python_version:
        environment.update(python_full_version=python_version, implementation_version=python_version,
                           python_version=".".join(python_version.split(".")[:2]))
    out = set()
    for extra in ["", *sorted(extras)]:
        for req in requires:
            try:
                applies = req.marker is None or req.marker.evaluate({**environment, "extra": extra})
            except Exception:  # an unevaluable marker: the lists are not known to agree
                applies = str(req.marker)
            if applies:
                out.add((canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)), extra,
                         applies is True))
    return out


def _unpack_base() -> Optional[str]:
    """Where sdists are unpacked: the memory-backed ``/dev/shm`` when it has room for twice the largest tree the
    archive caps allow, since creating a file there costs microseconds against a millisecond or more on a busy
    disk (a 1,400-file sdist: 0.05 s instead of 1.6 s); else the system's temporary folder. An explicit
    ``TMPDIR`` always wins."""
    if os.environ.get("TMPDIR"):
        return None
    try:
        shm = os.statvfs(_SHM)
    except OSError:
        return None
    roomy = shm.f_bavail * shm.f_frsize >= 2 * ArchiveLimits().max_total_size
    return _SHM if roomy and os.access(_SHM, os.W_OK | os.X_OK) else None


def _step_pep517(source: str, python: Optional[str], index_urls, timeout: float,
                 allow_uncontained: bool) -> DistMetadata:
    from ..wheels.metadata import parse_metadata
    from .pep517 import prepare_metadata
    from .sandbox import interpreter

    with _unpacked(source) as tree:
        data, isolation = prepare_metadata(tree, python=python, index_urls=index_urls, timeout=timeout, where=source,
                                           allow_uncontained=allow_uncontained)
    answer = parse_metadata(data, source=source, provenance="pep517-hook")
    # the backend ran under that interpreter: a dynamic list it computed may depend on its version, as setup.py's may
    return replace(answer, isolation=isolation, python_version=interpreter(python).version)


class _unpacked:
    """The sdist unpacked below a fresh temporary folder, removed on exit."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.top: Optional[str] = None

    def __enter__(self) -> Path:
        self.top = tempfile.mkdtemp(prefix="wheelmeta-", dir=_unpack_base())
        try:
            return extract_tree(self.source, self.top)
        except BaseException:  # a member refused halfway: __exit__ will not run, so clean up here
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        if self.top:
            shutil.rmtree(self.top, ignore_errors=True)
