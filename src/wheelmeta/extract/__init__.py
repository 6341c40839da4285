"""read_metadata(source) and audit_wheel(path_or_url): one entry point per question, whatever the source is.

The dispatch is by what ``source`` is: a wheel path goes to ``wheels/``, an sdist path to ``sdist/``, a URL to
``extract.remote``. Those siblings are imported only when needed, so a local wheel read never loads the HTTP
stack or the sandbox, and a missing optional part gives a clear error instead of an ImportError at import time.

    >>> md = read_metadata("dist/requests-2.32.3-py3-none-any.whl")                   # doctest: +SKIP
    >>> audit = audit_wheel("tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple, Union

from ..errors import InterpreterError, UsageError
from ..model import BinaryAudit, DistMetadata, WheelAudit
from ..sources import ByteSource, LocalFileSource
from ..wheels.reader import read_wheel_metadata

if TYPE_CHECKING:  # pragma: no cover
    from ..target import Target

__all__ = ["read_metadata", "audit_wheel", "SDIST_SUFFIXES", "is_url"]

SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip")
_URL_SCHEMES = ("http://", "https://", "file://")


def is_url(text: str) -> bool:
    """True for the URL schemes the remote reader serves (``http``, ``https``, ``file``)."""
    return text.lower().startswith(_URL_SCHEMES)


def read_metadata(
    source: Union[str, "os.PathLike[str]", ByteSource],
    target: Optional["Target"] = None,
    *,
    python: Optional[str] = None,
    allow_build: bool = False,
    index_urls: Optional[Sequence[str]] = None,
    allow_uncontained: bool = False,
    fallback_pythons: Sequence[str] = (),
) -> DistMetadata:
    """The dependency metadata of a wheel or sdist: a local path, an ``http(s)://``/``file://`` URL, or a
    :class:`~wheelmeta.sources.ByteSource` holding a wheel.

    ``target`` only matters for sdists whose setup.py must run: an interpreter of the target's Python version
    (``python3.7`` on PATH) is used when one exists. Wheels are read, never run.

    ``python`` (an interpreter path) overrides that choice; ``allow_build`` lets an sdist without static metadata
    or setup.py answer through its PEP 517 hook (see :func:`wheelmeta.sdist.read_sdist_metadata`), installing build
    requirements from ``index_urls`` (default: pip's configuration). ``allow_uncontained`` lets an sdist's code
    run where no sandbox level contains the filesystem; without it such an sdist gets a ``static-partial`` answer.
    ``fallback_pythons`` are the interpreters setup.py is tried under, in order, when it fails in the sandbox under
    the first (the answer's ``problems`` then say which one answered).

    :raises WheelmetaError: (a subclass) naming the file and the problem.
    """
    if not isinstance(source, (str, os.PathLike)):
        return read_wheel_metadata(source)
    text = os.fspath(source)
    lowered = text.lower()
    if lowered.endswith(".whl") and not is_url(text):
        return read_wheel_metadata(text)
    if not is_url(text) and not lowered.endswith(SDIST_SUFFIXES):
        raise UsageError(text, "not a wheel (.whl) or an sdist (" + ", ".join(SDIST_SUFFIXES) + ") nor a URL")
    why = ""
    if python is None:
        python, why = _interpreter_choice(target)
    try:
        if is_url(text):
            remote = _sibling(".remote", text, "reading remote files")
            return remote.read_remote_metadata(text, python=python, allow_build=allow_build, index_urls=index_urls,
                                               allow_uncontained=allow_uncontained, fallback_pythons=fallback_pythons)
        sdist = _sibling("..sdist", text, "reading sdists")
        return sdist.read_sdist_metadata(text, python=python, allow_build=allow_build, index_urls=index_urls,
                                         allow_uncontained=allow_uncontained, fallback_pythons=fallback_pythons)
    except InterpreterError as exc:
        if not why:
            raise
        from ..sdist.chain import interpreter_failure

        raise interpreter_failure(exc.where, exc, why) from None


def audit_wheel(path_or_url: Union[str, "os.PathLike[str]", ByteSource]) -> Union[WheelAudit, BinaryAudit]:
    """The audit of a wheel from its bytes alone: local path, URL (range requests) or ByteSource. A Linux wheel
    gets the manylinux audit, a macOS or Windows wheel the audit of its Mach-O or PE members.

    manylinux/ never sees URLs: a URL becomes an ``http.RangeSource`` here.
    """
    audit = _sibling("..manylinux.audit", str(path_or_url), "auditing wheels")
    if not isinstance(path_or_url, (str, os.PathLike)):
        return audit.audit_source(path_or_url, name=path_or_url.name)
    text = os.fspath(path_or_url)
    if is_url(text) and not text.lower().startswith("file://"):
        http = _sibling("..http", text, "reading remote wheels")
        return audit.audit_source(http.RangeSource(text), name=text)
    if is_url(text):
        from urllib.parse import unquote, urlsplit

        text = unquote(urlsplit(text).path)
    with LocalFileSource(text) as source:
        return audit.audit_source(source, name=text)


def _sibling(module: str, where: str, purpose: str) -> Any:
    """Import a sibling module lazily; its absence is a user-facing error, not a traceback."""
    try:
        return importlib.import_module(module, __name__)
    except ImportError as exc:
        raise UsageError(where, f"{purpose} is not available in this installation ({exc})") from None


def _interpreter_for(target: Optional["Target"]) -> Optional[str]:
    """A ``pythonX.Y`` on PATH for a non-host target, so setup.py sees the target's version; else None."""
    return _interpreter_choice(target)[0]


def _interpreter_choice(target: Optional["Target"]) -> Tuple[Optional[str], str]:
    """(the first ``pythonX.Y`` on PATH for a non-host target, so setup.py sees the target's version, and why it
    was chosen); (None, "") for the running interpreter: the host, or no such name on PATH."""
    if target is None or getattr(target, "is_host", True):
        return None, ""
    name = f"python{target.python_version}"
    found = shutil.which(name)
    return (found, f"{name} on PATH, chosen for the target's Python {target.python_version}") if found else (None, "")
