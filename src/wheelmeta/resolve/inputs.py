"""What a lock starts from: requirement strings, pip requirement files, a ``pyproject.toml``, a PEP 723 script.

pip requirement files are read as pip reads them, for the subset a lock can honour: ``-r``/``--requirement``
includes (relative to the including file), ``-c``/``--constraint`` files, ``-i``/``--index-url``,
``--extra-index-url``, ``-f``/``--find-links``, ``--no-index``, ``--pre`` and ``--trusted-host`` lines, line
continuations, comments, ``${VAR}`` expansion, and per-requirement ``--hash=sha256:...`` pins. Anything else pip
would reject, or that a lock cannot honour (``-e``, a bare path), is a :class:`~wheelmeta.errors.UsageError` naming
the file and line, as is an include loop or a missing file.

    >>> inputs = LockInputs.from_arguments(["requests<2.22", "-r", "requirements.txt"])   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import UsageError
from ..wheels.metadata import check_long_numbers

__all__ = ["LockInputs", "read_script_metadata"]

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
#: PEP 723's reference regular expression for ``# /// script`` blocks.
_SCRIPT_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
_OPTIONS_WITH_VALUE = {
    "-r": "requirement", "--requirement": "requirement", "-c": "constraint", "--constraint": "constraint",
    "-i": "index-url", "--index-url": "index-url", "--extra-index-url": "extra-index-url",
    "-f": "find-links", "--find-links": "find-links", "--trusted-host": "trusted-host",
}
_FLAGS = {"--no-index": "no-index", "--pre": "pre", "--prefer-binary": "prefer-binary"}


@dataclass
class LockInputs:
    """Requirements with where each came from, constraints, hash pins, and the index options the files named."""

    requirements: List[Requirement] = field(default_factory=list)
    origins: Dict[Requirement, str] = field(default_factory=dict)  # requirement -> "requirements.txt:3"
    constraints: List[Requirement] = field(default_factory=list)
    hashes: Dict[str, Set[str]] = field(default_factory=dict)  # canonical name -> allowed sha256 digests
    hash_origins: Dict[str, str] = field(default_factory=dict)
    index_url: Optional[str] = None
    extra_index_urls: List[str] = field(default_factory=list)
    find_links: List[str] = field(default_factory=list)
    no_index: bool = False
    requires_python: Optional[str] = None  # from a pyproject.toml or a script, to check against the target

    @classmethod
    def from_arguments(cls, items: Sequence[str], requirement_files: Sequence[str] = (),
                       constraint_files: Sequence[str] = (), extras: Sequence[str] = ()) -> "LockInputs":
        """From command-line items (requirement strings, ``pyproject.toml`` paths, ``.py`` scripts, requirement
        files ending in ``.txt``/``.in``) plus ``-r`` and ``-c`` files. ``extras`` select a pyproject's
        optional dependencies."""
        inputs = cls()
        for item in items:
            if item.endswith(("pyproject.toml", ".py", ".txt", ".in")) and not item.startswith("-"):
                if not os.path.isfile(item):
                    raise UsageError(item, "no such file")
                if item.endswith("pyproject.toml"):
                    inputs._add_pyproject(item, extras)
                elif item.endswith(".py"):
                    inputs._add_script(item)
                else:
                    inputs._add_file(item, (), constraint=False)
            else:
                inputs._add_requirement(item, "the command line")
        for path in requirement_files:
            inputs._add_file(path, (), constraint=False)
        for path in constraint_files:
            inputs._add_file(path, (), constraint=True)
        if not inputs.requirements:
            raise UsageError("requirements", "nothing to lock: give requirements, -r FILE, a pyproject.toml or a "
                                             "script with inline metadata")
        return inputs

    # -- single requirements ---------------------------------------------------------------------------------------

    def _add_requirement(self, text: str, origin: str, *, constraint: bool = False,
                         hashes: Sequence[str] = ()) -> None:
        try:
            req = check_long_numbers(Requirement(text), text)
        except InvalidRequirement as exc:
            hint = " (a path or a bare URL: write NAME @ URL)" if "/" in text or text.startswith(".") else ""
            raise UsageError(origin, f"not a valid requirement {text[:300]!r}: {exc}{hint}") from None
        except (ValueError, SyntaxError) as exc:  # SyntaxError: packaging meets a NUL byte; ValueError: 5,000 digits
            raise UsageError(origin, f"not a valid requirement {text[:300]!r}: {str(exc)[:300]}") from None
        if constraint:
            if req.extras or req.url:
                raise UsageError(origin, f"a constraint cannot have extras or a URL: {text!r}")
            self.constraints.append(req)
            return
        self.requirements.append(req)
        self.origins.setdefault(req, origin)
        if hashes:
            self.hashes.setdefault(canonicalize_name(req.name), set()).update(hashes)
            self.hash_origins.setdefault(canonicalize_name(req.name), origin)

    # -- pip requirement files -------------------------------------------------------------------------------------

    def _add_file(self, path: str, stack: Tuple[str, ...], *, constraint: bool, origin: str = "") -> None:
        if "\0" in path:  # no file can have this name (os calls raise ValueError on it)
            raise UsageError(origin or repr(path), "a file name with a NUL byte")
        real = os.path.realpath(path)
        if real in stack:
            chain = " -> ".join(os.path.relpath(p) for p in (*stack, real))
            raise UsageError(origin or path, f"include loop: {chain}")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(origin or path, f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(origin or path, f"{path}: cannot read: {exc}") from None
        for number, line in _logical_lines(text):
            where = f"{path}:{number}"
            if line.startswith("-"):
                self._add_option_line(line, where, path, (*stack, real), constraint)
            else:
                requirement, hashes = _split_hash_options(line, where)
                self._add_requirement(requirement, where, constraint=constraint, hashes=hashes)

    def _add_option_line(self, line: str, where: str, path: str, stack: Tuple[str, ...], constraint: bool) -> None:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(where, f"cannot split the line: {exc}") from None
        option, value = words[0], None
        if "=" in option and option.startswith("--"):
            option, value = option.split("=", 1)
        elif len(option) > 2 and option[:2] in ("-r", "-c", "-i", "-f") and not option.startswith("--"):
            option, value = option[:2], option[2:]
        if option in ("-e", "--editable"):
            raise UsageError(where, "an editable requirement cannot be locked (give the project's requirements)")
        if option in _FLAGS:
            self.no_index = self.no_index or _FLAGS[option] == "no-index"
            return
        if option not in _OPTIONS_WITH_VALUE:
            raise UsageError(where, f"option {option} is not supported in requirement files here")
        if value is None:
            if len(words) < 2:
                raise UsageError(where, f"option {option} needs a value")
            value = words[1]
        kind = _OPTIONS_WITH_VALUE[option]
        base = os.path.dirname(path)
        if kind in ("requirement", "constraint"):
            target = value if os.path.isabs(value) or "://" in value else os.path.join(base, value)
            self._add_file(target, stack, constraint=constraint or kind == "constraint", origin=where)
        elif kind == "index-url":
            self.index_url = value
        elif kind == "extra-index-url":
            self.extra_index_urls.append(value)
        elif kind == "find-links":
            local = value if "://" in value or os.path.isabs(value) else os.path.join(base, value)
            self.find_links.append(local if os.path.exists(local) else value)

    # -- pyproject.toml and scripts --------------------------------------------------------------------------------

    def _add_pyproject(self, path: str, extras: Sequence[str]) -> None:
        data = _load_toml(path, Path(path).read_bytes())
        project = data.get("project")
        if not isinstance(project, dict):
            raise UsageError(path, "no [project] table (PEP 621) to take dependencies from")
        if "dependencies" in project.get("dynamic", ()):
            raise UsageError(path, "[project] dependencies are dynamic: the build backend computes them, so they "
                                   "cannot be read without building")
        self._add_list(project.get("dependencies", []), f"{path}: [project] dependencies")
        optional = project.get("optional-dependencies", {})
        for extra in extras:
            found = {canonicalize_name(k): v for k, v in optional.items()}.get(canonicalize_name(extra))
            if found is None:
                raise UsageError(path, f"no optional-dependencies extra {extra!r} (it has: "
                                       f"{', '.join(sorted(optional)) or 'none'})")
            self._add_list(found, f"{path}: [project.optional-dependencies] {extra}")
        self.requires_python = project.get("requires-python") or self.requires_python

    def _add_script(self, path: str) -> None:
        found = read_script_metadata(path)
        if found is None:
            raise UsageError(path, "no PEP 723 '# /// script' block with the script's dependencies")
        self._add_list(found.get("dependencies", []), f"{path}: script metadata")
        self.requires_python = found.get("requires-python") or self.requires_python

    def _add_list(self, items: object, where: str) -> None:
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise UsageError(where, "must be a list of requirement strings")
        for i, text in enumerate(items):
            self._add_requirement(text, f"{where}[{i}]")


def read_script_metadata(path: str) -> Optional[dict]:
    """The TOML of a script's ``# /// script`` block (PEP 723), None when it has none.

    :raises UsageError: two ``script`` blocks, or TOML that does not parse.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(path, f"cannot read: {exc}") from None
    blocks = [m for m in _SCRIPT_BLOCK.finditer(text) if m.group("type") == "script"]
    if len(blocks) > 1:
        raise UsageError(path, "more than one '# /// script' block (PEP 723 allows one)")
    if not blocks:
        return None
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in blocks[0].group("content").splitlines(keepends=True))
    return _load_toml(path, content.encode())


def _load_toml(path: str, data: bytes) -> dict:
    from ..tomlfile import parse_toml

    return parse_toml(data, path, UsageError)


def _logical_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(first line number, text) per logical line: continuations joined, comments and blanks dropped, ${VAR}
    expanded (pip's order)."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not _COMMENT.search(raw[:-1]):
            pending += raw[:-1]
            continue
        line = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if line:
            yield start, _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), line)
    if pending.strip():
        yield start, _COMMENT.sub("", pending).strip()


def _split_hash_options(line: str, where: str) -> Tuple[str, List[str]]:
    """``"numpy==2.0 --hash=sha256:ab --hash sha256:cd"`` -> ``("numpy==2.0", ["ab", "cd"])``; other options after
    a requirement are refused by name."""
    words = line.split()
    cut = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
    requirement, options = " ".join(words[:cut]), words[cut:]
    hashes: List[str] = []
    i = 0
    while i < len(options):
        option = options[i]
        value = None
        if option.startswith("--hash="):
            value = option[len("--hash="):]
        elif option == "--hash" and i + 1 < len(options):
            i += 1
            value = options[i]
        else:
            raise UsageError(where, f"option {option} is not supported after a requirement (only --hash)")
        algorithm, sep, digest = value.partition(":")
        if not sep or algorithm != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise UsageError(where, f"--hash {value!r}: expected sha256:<64 hex digits>")
        hashes.append(digest.lower())
        i += 1
    return requirement, hashes
