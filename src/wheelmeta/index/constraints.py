"""pip's constraints files: versions a requirement may take without asking for the package.

A constraint binds when its project is chosen: the file must satisfy the constraint's specifier too (and, for a
``name @ URL`` constraint, be that file). Constraints come from pip's configuration (``constraint`` in a pip config
file, ``PIP_CONSTRAINT``) and from ``-c FILE`` on the command line, which adds to them as pip's ``append`` options
do. The files are read in pip's requirements-file format: ``#`` comments, ``\\`` continuations, ``${VAR}``
expansion, nested ``-c``/``-r`` files relative to the including file, and per-line options such as ``--hash``.

    >>> constraints = Constraints.from_files(["constraints.txt"])                 # doctest: +SKIP
    >>> [str(c) for c in constraints.binding("torch", target)]                    # doctest: +SKIP
    ['torch<=2.14.1 (constraints.txt:2)']
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import SettingsFileError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from ..target import Target

__all__ = ["Constraint", "Constraints"]

logger = logging.getLogger(__name__)

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")  # pip expands only this POSIX-ish spelling
_NESTED = {"-c": True, "--constraint": True, "-r": False, "--requirement": False}  # option -> a constraints file?
_MAX_DEPTH = 20  # nested files: a file that includes itself must end, not recurse until the stack runs out


#: what packaging raises for a marker it cannot evaluate (KeyError: a comparison of two literals, ``'a' == 'a'``)
UNEVALUABLE_MARKER = (UndefinedComparison, UndefinedEnvironmentName, ValueError, KeyError)


def marker_holds(requirement: Requirement, target: "Target") -> bool:
    """Whether ``requirement``'s marker holds on ``target`` with no extra selected, as pip judges a requirement or a
    constraint it is given. Raises one of :data:`UNEVALUABLE_MARKER` when packaging cannot evaluate it."""
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate({**target.marker_environment(), "extra": ""})


@dataclass(frozen=True)
class Constraint:
    """One constraint line: the requirement it states and where it was written (``path:line``)."""

    requirement: Requirement
    origin: str

    def __str__(self) -> str:
        return f"{self.requirement} ({self.origin})"

    def applies_on(self, target: "Target") -> bool:
        """Whether the constraint's marker (if any) holds on ``target``; a marker that cannot be evaluated is an
        error naming the line, never a constraint silently dropped."""
        try:
            return marker_holds(self.requirement, target)
        except UNEVALUABLE_MARKER as exc:
            raise SettingsFileError(self.origin, f"cannot evaluate the marker of {self.requirement}: {exc}") from None


class Constraints:
    """The constraints of every file read, in file order."""

    def __init__(self, items: Iterable[Constraint] = ()) -> None:
        self.items: Tuple[Constraint, ...] = tuple(items)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_files(cls, paths: Sequence[str], environ: Optional[Mapping[str, str]] = None) -> "Constraints":
        """The constraints in ``paths`` (pip's requirements-file format). A file that does not exist is a
        :class:`UsageError`; a line that is not a usable constraint a :class:`SettingsFileError` naming the line."""
        env = os.environ if environ is None else environ
        items: List[Constraint] = []
        for path in paths:
            items.extend(_read_file(_local_path(path), env, depth=0))
        return cls(items)

    @classmethod
    def from_pip(cls, extra_files: Sequence[str] = (), environ: Optional[Mapping[str, str]] = None) -> "Constraints":
        """pip's configured constraints files (``constraint`` in its config files, ``PIP_CONSTRAINT``), then
        ``extra_files`` (the command line's ``-c``), all binding together."""
        from .config import IndexConfig

        config = IndexConfig.from_pip(constraint_files=extra_files, environ=environ)
        return cls.from_files(config.constraint_files, environ)

    def binding(self, project: str, target: "Target") -> List[Constraint]:
        """The constraints on ``project`` whose markers hold on ``target``."""
        name = canonicalize_name(project)
        return [c for c in self.items if canonicalize_name(c.requirement.name) == name and c.applies_on(target)]


def _local_path(path: str) -> str:
    if path.lower().startswith("file:"):
        from ..http import url_to_path

        return url_to_path(path)
    if "://" in path:
        raise UsageError(path, "constraints files are read from local paths only; download it first")
    return path


def _read_file(path: str, env: Mapping[str, str], depth: int) -> Iterator[Constraint]:
    if depth > _MAX_DEPTH:
        raise SettingsFileError(path, f"constraints files nested more than {_MAX_DEPTH} deep "
                                "(does one include itself?)")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise UsageError(path, "no such constraints file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsFileError(path, f"cannot read the constraints file: {exc}") from None
    for number, line in _logical_lines(text):
        origin = f"{path}:{number}"
        line = _ENV_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), line)
        if line.startswith("-"):
            yield from _option_line(path, origin, line, env, depth)
        else:
            yield _constraint(origin, line)


def _logical_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(first line number, line) with comments removed and ``\\`` continuations joined, as pip reads them."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def _option_line(path: str, origin: str, line: str, env: Mapping[str, str], depth: int) -> Iterator[Constraint]:
    option, _, value = line.replace("=", " ", 1).partition(" ") if line.startswith("--") else (line[:2], "", line[2:])
    value = value.strip()
    if option in _NESTED and value:
        nested = value if os.path.isabs(value) else os.path.join(os.path.dirname(path), value)
        yield from _read_file(_local_path(nested), env, depth + 1)
    elif option in ("-e", "--editable"):
        raise SettingsFileError(origin, "an editable requirement cannot be a constraint (pip refuses it too)")
    else:
        logger.warning("%s: option %s is not a constraint; choose ignores it", origin, option)


def _constraint(origin: str, line: str) -> Constraint:
    """One requirement line; trailing options (``--hash=...``) are split off as pip does."""
    words = line.split()
    cut = next((i for i, w in enumerate(words) if i and w.startswith("-")), len(words))
    text, options = " ".join(words[:cut]), words[cut:]
    try:
        requirement = Requirement(text)
    except (InvalidRequirement, SyntaxError) as exc:  # SyntaxError: packaging's literal_eval of "\9" under -W error
        raise SettingsFileError(origin, f"not a requirement: {text!r} ({exc})") from None
    if requirement.extras:
        raise SettingsFileError(origin, f"a constraint cannot have extras (pip refuses it too): {text}")
    if any(o.startswith("--hash") for o in options):
        logger.warning("%s: choose does not check --hash values; the version constraint still binds", origin)
    return Constraint(requirement, origin)
