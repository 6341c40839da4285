"""Every error a user can cause, as one hierarchy.

Each error names the file (or URL) and the problem, so the CLI can print ``str(error)`` on one line and exit 1::

    >>> str(InvalidWheel("dist/x-1.0-py3-none-any.whl", "not a zip file"))
    'dist/x-1.0-py3-none-any.whl: not a zip file'
"""

from __future__ import annotations

__all__ = [
    "WheelmetaError",
    "UsageError",
    "InvalidWheel",
    "InvalidArchive",
    "InvalidSdist",
    "StoreError",
    "ResolutionError",
    "MetadataError",
    "SandboxError",
    "UncontainedError",
    "InterpreterError",
    "NetworkError",
    "IndexError_",
    "NoMatchingDistribution",
    "SettingsFileError",
    "InvalidLock",
]


class WheelmetaError(Exception):
    """Base of every error a user can cause. ``str()`` is ``"<where>: <reason>"`` on one line."""

    exit_code = 1

    def __init__(self, where: object, reason: str) -> None:
        self.where = printable(str(where))
        self.reason = printable(" ".join(str(reason).split()))  # one line, always
        super().__init__(f"{self.where}: {self.reason}")


def printable(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, NUL, other controls, the lone surrogates
    that undecodable file-name bytes become) written as its Python escape: a file named ``a\\nb.whl`` must not
    split the error's line, and a surrogate cannot be printed to a UTF-8 terminal at all."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class UsageError(WheelmetaError):
    """Bad command-line usage or bad option values (exit 2)."""

    exit_code = 2


class InvalidArchive(WheelmetaError):
    """A zip or tar file that cannot be read safely: truncated, corrupt, hostile."""


class InvalidWheel(InvalidArchive):
    """A wheel that breaks the wheel spec: filename, .dist-info layout, WHEEL file."""


class InvalidSdist(InvalidArchive):
    """An sdist that cannot be read or is refused by the archive guards."""


class StoreError(WheelmetaError):
    """The metadata store file cannot be used: not a wheelmeta store, corrupt, newer schema, or it lacks a fact
    an ``--offline`` run needs."""


class ResolutionError(WheelmetaError):
    """No set of versions satisfies the requirements; the reason reads as a chain of who required what."""


class MetadataError(WheelmetaError):
    """Metadata that could not be obtained at all (parse problems that still allow a result go to ``problems``)."""


class SandboxError(MetadataError):
    """Running setup.py or a PEP 517 hook in the sandbox failed; the reason says which step and why."""


class UncontainedError(SandboxError):
    """Untrusted code was not run: no sandbox level on this machine contains the filesystem, and running it with
    less was not allowed (``--allow-uncontained``, ``WHEELMETA_SANDBOX=rlimits-only``)."""


class InterpreterError(SandboxError):
    """The interpreter chosen for setup.py or a PEP 517 hook does not run; ``interpreter`` is its path and
    ``detail`` what it said. Every other route would use it too, so nothing else is tried."""

    def __init__(self, where: object, reason: str, *, interpreter: str = "", detail: str = "") -> None:
        super().__init__(where, reason)
        self.interpreter, self.detail = interpreter, detail


class NetworkError(WheelmetaError):
    """A request failed after retries, or a server answered something unusable."""


class IndexError_(WheelmetaError):
    """A package index page could not be read or parsed. (Named with ``_`` to leave the builtin alone.)"""


class SettingsFileError(WheelmetaError):
    """A file of settings the user named (a providers table, a constraints file) whose content cannot be used.

    (A settings file that does not exist at all is a :class:`UsageError`, like any path that names nothing.)"""


class NoMatchingDistribution(WheelmetaError):
    """No file on the configured indexes satisfies a requirement for the target and preference.

    ``rejected`` holds every offered file with the reason it was refused, as ``(DistFile, reason)`` pairs, so a
    caller can show them (``wheelmeta.index.provider.group_rejections`` groups them by reason, newest first)."""

    def __init__(self, where: object, reason: str, rejected: tuple = ()) -> None:
        super().__init__(where, reason)
        self.rejected = tuple(rejected)


class InvalidLock(WheelmetaError):
    """A ``pylock.toml`` that cannot be read, is not a valid PEP 751 lock, or lacks what a command needs from it."""
