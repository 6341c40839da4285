"""TOML from outside bytes: the one place that turns every way ``tomllib`` can fail into a WheelmetaError.

tomllib raises ``TOMLDecodeError`` for bad syntax, ``ValueError`` for an integer too long for ``int()``, and
``RecursionError`` for arrays or tables nested a few thousand deep; a file's bytes may not be UTF-8 at all.

    >>> parse_toml(b"[project]\\nname = 'demo'\\n", "pyproject.toml")
    {'project': {'name': 'demo'}}
"""

from __future__ import annotations

import sys
from typing import Type, Union

from .errors import WheelmetaError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

__all__ = ["parse_toml"]


def parse_toml(data: Union[bytes, str], where: object, error: Type[WheelmetaError] = WheelmetaError,
               what: str = "") -> dict:
    """``data`` parsed; ``error(where, "<what> is not valid TOML: ...")`` (or ``"... is nested too deeply to
    read"``) for anything that is not a TOML document."""
    prefix = f"{what} " if what else ""
    try:
        return tomllib.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError is a ValueError
        raise error(where, f"{prefix}is not valid TOML: {' '.join(str(exc).split())[:300]}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise error(where, f"{prefix}is nested too deeply to read") from None
