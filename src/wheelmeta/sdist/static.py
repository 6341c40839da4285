"""Static sdist metadata: the files that state dependencies without running anything.

- ``PKG-INFO`` with Metadata-Version >= 2.2 whose ``Dynamic`` names none of Requires-Dist, Requires-Python,
  Provides-Extra (PEP 643: then the wheel built from it must carry the same values);
- ``pyproject.toml`` ``[project]`` whose ``dynamic`` names none of dependencies, optional-dependencies,
  requires-python (PEP 621);
- ``setup.cfg`` ``[options]``, read the way setuptools reads it, when no ``setup.py`` can change it.

Each ``*_metadata`` function returns ``(DistMetadata, "")`` when its source answers, or ``(None, reason)`` saying why
it does not, so the chain can report every step it tried::

    >>> md, why = pyproject_metadata({"project": {"name": "demo", "version": "1", "dependencies": ["attrs"]}},
    ...                              source="demo-1.tar.gz")
    >>> [str(r) for r in md.requires_dist], md.provenance
    (['attrs'], 'pep621')
"""

from __future__ import annotations

import ast
import configparser
import email.parser
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

from ..errors import MetadataError
from ..model import DistMetadata
from ..tomlfile import parse_toml
from .requirements import parse_requirements, parse_requires_python, requirement_lines, setuptools_requires_dist


__all__ = [
    "StepAnswer",
    "pkg_info_headers",
    "pkg_info_metadata",
    "load_pyproject",
    "pyproject_metadata",
    "build_system_requires",
    "read_setup_cfg",
    "setup_cfg_metadata",
    "is_trivial_setup_py",
]

StepAnswer = Tuple[Optional[DistMetadata], str]

#: the PEP 643 fields whose absence from Dynamic makes PKG-INFO the truth about dependencies
_DEPENDENCY_FIELDS = ("requires-dist", "requires-python", "provides-extra")
_PEP621_DEPENDENCY_KEYS = ("dependencies", "optional-dependencies", "requires-python")


def pkg_info_headers(data: bytes) -> email.message.Message:
    """The RFC 822 headers of a PKG-INFO (the body, the long description, is not parsed)."""
    return email.parser.BytesHeaderParser().parsebytes(data)


def pkg_info_metadata(data: bytes, *, source: str) -> StepAnswer:
    """PEP 643: PKG-INFO is the answer when Metadata-Version >= 2.2 and no dependency field is Dynamic."""
    headers = pkg_info_headers(data)
    raw_version = str(headers.get("Metadata-Version") or "").strip()  # str(): a Header object for odd bytes
    try:
        metadata_version = Version(raw_version)
    except ValueError:  # InvalidVersion, or a release number too long for int()
        return None, f"PKG-INFO has an unreadable Metadata-Version {raw_version!r}"
    if metadata_version < Version("2.2"):
        return None, f"PKG-INFO is Metadata-Version {raw_version} (< 2.2, so its dependencies may be stale)"
    dynamic = {str(v).strip().lower() for v in headers.get_all("Dynamic") or ()}
    named = sorted(dynamic.intersection(_DEPENDENCY_FIELDS))
    if named:
        return None, f"PKG-INFO marks {', '.join(named)} as Dynamic"
    from ..wheels.metadata import parse_metadata

    return parse_metadata(data, source=source, provenance="pkg-info-static"), ""


def load_pyproject(data: bytes, *, source: str) -> dict:
    """pyproject.toml as a dict; a TOML error is a MetadataError naming the sdist."""
    return parse_toml(data, source, MetadataError, what="pyproject.toml")


def toml_table(mapping: Mapping, key: str) -> Mapping:
    """``mapping[key]`` when it is a table, else an empty one: a value of the wrong type (``build-system = 5``)
    reads as absent, and the caller's checks report what is missing."""
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def build_system_requires(pyproject: Mapping, problems: List[str]) -> List[Requirement]:
    """``[build-system] requires`` parsed (what Nix must provide to build the sdist)."""
    value = toml_table(pyproject, "build-system").get("requires") or []
    if not isinstance(value, list):
        problems.append("pyproject.toml: [build-system] requires is not a list")
        return []
    return parse_requirements([str(v) for v in value], "[build-system] requires", problems)


def _with_extra(req: Requirement, extra: str) -> Requirement:
    """``req`` restricted to ``extra``, combined as the PEP 621 backends write it: ``(marker) and extra == "x"``."""
    combined = Requirement(str(req))
    clause = f'extra == "{extra}"'
    combined.marker = Marker(f"({req.marker}) and {clause}" if req.marker else clause)
    return combined


def pyproject_metadata(
    pyproject: Mapping,
    *,
    source: str,
    name: str = "",
    version: str = "",
    read_file: Optional[Callable[[str], Optional[bytes]]] = None,
) -> StepAnswer:
    """PEP 621: ``[project]`` answers when none of its dependency keys is listed in ``dynamic``, or when setuptools
    fills the dynamic ones from files the sdist carries (``[tool.setuptools.dynamic]``, read via ``read_file``)."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        return None, "pyproject.toml has no [project] table"
    problems: List[str] = []
    dynamic = {str(d).lower() for d in _toml_list(project, "dynamic", problems)}
    named = sorted(dynamic.intersection(_PEP621_DEPENDENCY_KEYS))
    if named:
        resolved, why = _setuptools_dynamic_files(pyproject, named, read_file)
        if resolved is None:
            return None, why
        project = {**project, **resolved}
    requires = parse_requirements(_toml_list(project, "dependencies", problems), "[project] dependencies", problems)
    extras: List[str] = []
    for extra, reqs in toml_table(project, "optional-dependencies").items():
        extras.append(str(extra))
        label = f"[project.optional-dependencies] {extra}"
        reqs = [str(r) for r in reqs] if isinstance(reqs, list) else []
        requires += [_with_extra(r, str(extra)) for r in parse_requirements(reqs, label, problems)]
    return (
        DistMetadata(
            name=str(project.get("name") or name),
            version=str(project.get("version") or version),
            requires_python=parse_requires_python(project.get("requires-python"), problems),
            requires_dist=tuple(requires),
            provides_extra=tuple(extras),
            provenance="pep621",
            problems=tuple(problems),
            source=source,
            summary=project.get("description"),
        ),
        "",
    )


def _toml_list(table: Mapping, key: str, problems: List[str]) -> List[str]:
    """A list of strings from ``table[key]``; any other type is a problem and reads as an empty list."""
    value = table.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"pyproject.toml: {key} is a {type(value).__name__}, not a list; ignored")
        return []
    return [str(v) for v in value]


def _setuptools_dynamic_files(
    pyproject: Mapping, named: List[str], read_file: Optional[Callable[[str], Optional[bytes]]]
) -> Tuple[Optional[Dict[str, object]], str]:
    """The dynamic dependency keys setuptools reads from ``{file = [...]}`` in ``[tool.setuptools.dynamic]``:
    dynamic for PEP 621, yet fixed by files inside the sdist. ``(None, reason)`` when any key is not of that kind."""
    backend = str((pyproject.get("build-system") or {}).get("build-backend") or "")
    why = f"pyproject.toml [project] lists {', '.join(named)} as dynamic"
    if read_file is None or not backend.startswith("setuptools"):
        return None, why
    table = ((pyproject.get("tool") or {}).get("setuptools") or {}).get("dynamic") or {}
    resolved: Dict[str, object] = {}
    for key in named:
        spec = table.get(key)
        if key == "dependencies":
            value: object = _file_directive_lines(spec, read_file)
        elif key == "optional-dependencies" and isinstance(spec, dict):
            extras = {str(extra): _file_directive_lines(v, read_file) for extra, v in spec.items()}
            value = None if None in extras.values() else extras
        else:
            value = None
        if value is None:
            return None, f"{why} and [tool.setuptools.dynamic] names no file for {key}"
        resolved[key] = value
    return resolved, ""


def _file_directive_lines(spec: object, read_file: Callable[[str], Optional[bytes]]) -> Optional[List[str]]:
    """The requirement lines of ``{file = "a.txt"}`` / ``{file = ["a.txt", "b.txt"]}``; None if not that form."""
    if not isinstance(spec, dict) or set(spec) != {"file"}:
        return None
    paths = [spec["file"]] if isinstance(spec["file"], str) else list(spec["file"])
    texts = []
    for rel in paths:
        data = read_file(str(rel))
        if data is None:
            return None
        texts.append(data.decode("utf-8", "replace"))
    return list(requirement_lines("\n".join(texts)))


def _cfg_list(value: str, separator: str) -> List[str]:
    """setuptools' ``_parse_list``: split by lines when there are several, else by ``separator``."""
    chunks = value.splitlines() if "\n" in value else value.split(separator)
    return [c.strip() for c in chunks if c.strip() and not c.strip().startswith("#")]


def read_setup_cfg(
    text: str, *, source: str, read_file: Callable[[str], Optional[bytes]]
) -> Dict[str, object]:
    """The requirement fields of setup.cfg as setuptools would pass them to ``setup()``.

    ``file:`` directives are resolved through ``read_file(relative_path)`` (reading from the archive).
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]  # keys are extras names: keep their case
    try:
        parser.read_string(text, source=f"{source}/setup.cfg")
    except configparser.Error as exc:
        raise MetadataError(source, f"setup.cfg cannot be parsed: {' '.join(str(exc).split())}") from None

    def requirement_list(value: str, label: str) -> List[str]:
        # Not stripped: configparser keeps the newline of "key =\n  foo;marker", and that newline is what makes
        # setuptools split by lines instead of by ";" (stripping it cut "foo;marker" into "foo" and "marker").
        if value.strip().startswith("file:"):
            parts = []
            for rel in _cfg_list(value.strip()[len("file:") :], ","):
                data = read_file(rel)
                if data is None:
                    raise MetadataError(source, f"setup.cfg {label} names {rel!r}, which the sdist lacks")
                parts.append(data.decode("utf-8", "replace"))
            value = "\n".join(parts)
        return _cfg_list(value, ";")

    fields: Dict[str, object] = {}
    options = parser["options"] if parser.has_section("options") else {}
    for key in ("install_requires", "setup_requires", "tests_require"):
        if key in options:
            fields[key] = requirement_list(options[key], key)
    if "python_requires" in options:
        fields["python_requires"] = options["python_requires"].strip()
    if parser.has_section("options.extras_require"):
        section = parser["options.extras_require"]
        fields["extras_require"] = {k: requirement_list(v, f"extras_require[{k}]") for k, v in section.items()}
    return fields


def setup_cfg_metadata(
    fields: Mapping[str, object], *, source: str, name: str, version: str, provenance: str = "setup-cfg"
) -> DistMetadata:
    """DistMetadata from setuptools-style fields (setup.cfg's, or a setup.py's captured by the sandbox)."""
    requires, extras, problems = setuptools_requires_dist(
        fields.get("install_requires"), fields.get("extras_require")  # type: ignore[arg-type]
    )
    all_problems = list(problems)
    requires_python = parse_requires_python(fields.get("python_requires"), all_problems)
    build = parse_requirements(fields.get("setup_requires"), "setup_requires", all_problems)  # type: ignore
    tests = parse_requirements(fields.get("tests_require"), "tests_require", all_problems)  # type: ignore
    return DistMetadata(
        name=name,
        version=version,
        requires_python=requires_python,
        requires_dist=requires,
        provides_extra=extras,
        provenance=provenance,
        problems=tuple(all_problems),
        source=source,
        build_requires=tuple(build),
        test_requires=tuple(tests),
    )


_REQUIREMENT_KEYWORDS = {"install_requires", "extras_require", "python_requires", "setup_requires", "tests_require"}


def is_trivial_setup_py(data: bytes) -> bool:
    """True for the ``setup()`` shim: imports, a docstring and one ``setup(...)`` call whose keywords are literal
    and name no requirement field, optionally under ``if __name__ == "__main__":``. Such a setup.py cannot change
    what setup.cfg says, so setup.cfg can be read statically."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return False
    calls = 0
    for node in _flatten_main_guard(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not all(alias.name.split(".")[0] in {"setuptools", "distutils"} for alias in node.names) and not (
                isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"setuptools", "distutils"}
            ):
                return False
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring
        elif isinstance(node, ast.Expr) and _is_plain_setup_call(node.value):
            calls += 1
        else:
            return False
    return calls == 1


def _flatten_main_guard(body: List[ast.stmt]) -> List[ast.stmt]:
    out: List[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If) and not node.orelse and "__main__" in ast.dump(node.test):
            out.extend(node.body)
        else:
            out.append(node)
    return out


def _is_plain_setup_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call) or node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name != "setup":
        return False
    for keyword in node.keywords:
        if keyword.arg is None or keyword.arg in _REQUIREMENT_KEYWORDS:
            return False  # **kwargs could hold anything; a requirement keyword overrides setup.cfg
        try:
            ast.literal_eval(keyword.value)
        except ValueError:
            return False
    return True
