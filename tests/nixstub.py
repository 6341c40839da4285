"""The real Nix parser and evaluator for the expressions wheelmeta writes, against a stub ``pkgs``.

``nix-instantiate`` (Debian's nix-bin) runs here without a daemon and without touching /nix: every test gets its own
``NIX_STATE_DIR``, ``NIX_CONF_DIR``, ``NIX_LOG_DIR`` and ``HOME`` under its tmp dir, and evaluation runs with
``--readonly-mode`` (nothing is added to a store; ``toString`` of a path never copies it).

The stub is generated from the attribute paths a test says exist (``stdenv.cc.cc.lib``, ``cudaPackages.cudnn``,
Python packages by name), so an expression that names anything else fails to evaluate: a missing formal is "called
without required argument", a misspelled nested attribute is "attribute ... missing". Its ``buildPythonPackage``
refuses arguments outside the shape nixpkgs' wheel packages use and returns plain data, which the test compares
after ``--eval --strict --json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pytest

from wheelmeta.patchelf_nix.expression import LICENSES

NIX_INSTANTIATE = shutil.which("nix-instantiate")

#: the version of the stub scope's Python (the python3 of nixpkgs 25.11), which ``disabled`` guards are evaluated for
STUB_PYTHON = "3.13"

#: every argument the stub buildPythonPackage accepts
ALLOWED_ARGS = (
    "pname",
    "version",
    "format",
    "disabled",
    "src",
    "nativeBuildInputs",
    "buildInputs",
    "autoPatchelfIgnoreMissingDeps",
    "dependencies",
    "pythonImportsCheck",
    "preFixup",
    "meta",
)


def require_nix() -> str:
    if NIX_INSTANTIATE is None:
        pytest.skip("nix-instantiate not installed (Debian's nix-bin; .ci/run installs it)")
    return NIX_INSTANTIATE


def _env(workdir: Path) -> Dict[str, str]:
    state = Path(workdir).resolve() / ".nix"  # Nix wants absolute state paths
    for sub in ("state", "conf", "log", "home"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(state / "home"),
        "NIX_STATE_DIR": str(state / "state"),
        "NIX_CONF_DIR": str(state / "conf"),
        "NIX_LOG_DIR": str(state / "log"),
        "NIX_PATH": "",
    }


def _run(args: List[str], workdir: Path) -> str:
    nix = require_nix()
    proc = subprocess.run([nix, *args], cwd=workdir, env=_env(workdir), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"nix-instantiate {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def nix_parse(path: Path) -> str:
    """``nix-instantiate --parse``: raises AssertionError with Nix's message when the file does not parse."""
    return _run(["--parse", str(path.resolve())], path.parent)


def _tree(paths: Iterable[str], prefix: str = "") -> Dict[str, object]:
    tree: Dict[str, object] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node.setdefault(parts[-1], prefix + path)
    return tree


def _nix_value(node: object) -> str:
    if isinstance(node, str):
        return f"(mk {json.dumps(node)})"
    items = " ".join(f"{json.dumps(k)} = {_nix_value(v)};" for k, v in sorted(node.items()))  # type: ignore[union-attr]
    return "{ " + items + " }"


# the first lines of both stubs: derivation-like values, and the names of a list of them
_PRELUDE = """
let
  mk = name: { inherit name; outPath = "/stub/" + name; };
  names = map (x: x.name);"""


def _native_tree(native: Iterable[str]) -> str:
    """The native attribute paths a test names, plus the hooks every wheel expression may use."""
    return _nix_value(_tree(list(native) + ["autoPatchelfHook", "autoAddDriverRunpath"]))


def stub_nix(native: Iterable[str], python: Iterable[str] = ()) -> str:
    """The stub package set: ``native`` attribute paths, ``python`` package names, and the wheel builders.

    Native inputs evaluate to their path (``"stdenv.cc.cc.lib"``), Python packages to ``"python3Packages.<name>"``,
    so a Python package taken where a native one was meant (or back) shows in the result.
    """
    licenses = " ".join(f"{attr} = {json.dumps(attr)};" for attr in sorted(set(LICENSES.values())))
    allowed = " ".join(json.dumps(a) for a in ALLOWED_ARGS)
    native_tree = _native_tree(native)
    python_tree = _nix_value(_tree(list(python), prefix="python3Packages."))
    return _PRELUDE + f"""
  lib = {{
    licenses = {{ {licenses} }};
    sourceTypes = {{ binaryNativeCode = "binaryNativeCode"; }};
  }};
  buildPythonPackage = args:
    assert builtins.all (k: builtins.elem k [ {allowed} ]) (builtins.attrNames args);
    assert args.format == "wheel";
    assert builtins.isString args.pname && builtins.isString args.version;
    assert builtins.all builtins.isString args.pythonImportsCheck;
    assert builtins.all builtins.isString (args.autoPatchelfIgnoreMissingDeps or [ ]);
    assert builtins.isAttrs args.meta;
    assert builtins.isBool (args.disabled or false);
    assert builtins.all builtins.isString (args.meta.platforms or [ ]);
    {{
      # like a derivation: a name and an outPath (a package of a set may be interpolated in preFixup);
      # what the test compares is under `wheel`, since JSON would print a set with an outPath as its path
      name = "python3Packages." + args.pname;
      outPath = "/stub/python3Packages." + args.pname;
      wheel = {{
        inherit (args) pname version format pythonImportsCheck meta;
        src = if builtins.isPath args.src then {{ path = toString args.src; }} else args.src;
        nativeBuildInputs = names (args.nativeBuildInputs or [ ]);
        buildInputs = names (args.buildInputs or [ ]);
        autoPatchelfIgnoreMissingDeps = args.autoPatchelfIgnoreMissingDeps or [ ];
        dependencies = names args.dependencies;
        preFixup = args.preFixup or null;
        disabled = args.disabled or false;
      }};
    }};
  fetchurl = {{ url, hash }}:
    assert builtins.match "sha256-[A-Za-z0-9+/]{{43}}=" hash != null;
    {{ inherit url hash; }};
  native = {native_tree} // {{
    inherit lib fetchurl;
    python3Packages = pythonScope;
    python312Packages = pythonScope;
    python313Packages = pythonScope;
  }};
  pythonBase = {python_tree} // {{
    inherit lib fetchurl buildPythonPackage;
    python = (mk "python") // {{ sitePackages = "lib/python3.13/site-packages"; pythonVersion = "{STUB_PYTHON}"; }};
    # as nixpkgs' python-packages-base.nix: the scope's interpreter against a version
    pythonOlder = v: builtins.compareVersions "{STUB_PYTHON}" v < 0;
    pythonAtLeast = v: builtins.compareVersions "{STUB_PYTHON}" v >= 0;
    pkgs = native;
  }};
  makeScope = packages: let
    self = packages self // {{
      callPackage = fn: args: fn (builtins.intersectAttrs (builtins.functionArgs fn) (native // self) // args);
      overrideScope = g: makeScope (final: let prev = packages final; in prev // g final prev);
    }};
  in self;
  pythonScope = makeScope (self: pythonBase);
in
{{ inherit native pythonScope; }}
"""


def evaluate(expression: str, workdir: Path, native: Iterable[str], python: Iterable[str] = (),
             package_set: bool = False) -> object:
    """Parse ``expression`` and evaluate it against the stub: ``python3Packages.callPackage expr { }`` for one
    package, ``expr { pkgs = stub; }`` for a package set. Returns the JSON result."""
    expr_file = workdir / "expression.nix"
    expr_file.write_text(expression)
    nix_parse(expr_file)
    (workdir / "stub.nix").write_text(stub_nix(native, python))
    call = "builtins.mapAttrs (name: p: p.wheel) (import ./expression.nix { pkgs = stub.native; })" if package_set \
        else "(stub.pythonScope.callPackage (import ./expression.nix) { }).wheel"
    (workdir / "eval.nix").write_text(f"let stub = import ./stub.nix; in {call}\n")
    return json.loads(_run(["--readonly-mode", "--eval", "--strict", "--json", "eval.nix"], workdir))


def evaluate_file(path: Path, native: Iterable[str], python: Iterable[str] = (),
                  package_set: bool = False, workdir: Optional[Path] = None) -> object:
    """:func:`evaluate` for an expression already in a file (``wheelmeta nix -o``); paths in it stay relative to it."""
    workdir = workdir or path.parent
    return evaluate(path.read_text(), workdir, native, python, package_set)


# ---------------------------------------------------------------------------------------------------------------------
# the environment file (wheelmeta env): a stub pkgs with an interpreter that can be overridden

#: every argument the environment stub's buildPythonPackage accepts, for a wheel or an sdist
ENV_ALLOWED_ARGS = ALLOWED_ARGS + ("pyproject", "build-system", "dontCheckRuntimeDeps")


def env_stub_nix(native: Iterable[str], python: Iterable[str] = ()) -> str:
    """A stub ``pkgs`` for an environment file: ``python3`` (3.13), ``python311``, ``python312`` and ``python313``,
    each with ``pythonVersion``, ``override { packageOverrides; self; }``, ``pkgs``, ``withPackages`` and
    ``sitePackages``; ``fetchurl``, ``mkShell``, the hooks and ``native`` paths.

    nixpkgs' Python packages (``python`` names) evaluate to ``{ name = "nixpkgs:<name>"; }``; a package the file
    builds records its arguments under ``args`` and is named ``<pname>-<version>-<wheel|sdist>``, so a test sees
    which derivation each package and each dependency got.
    """
    allowed = " ".join(json.dumps(a) for a in ENV_ALLOWED_ARGS)
    native_tree = _native_tree(native)
    python_tree = _nix_value(_tree(list(python), prefix="nixpkgs:"))
    return _PRELUDE + f"""
  buildPythonPackage = args:
    assert builtins.all (k: builtins.elem k [ {allowed} ]) (builtins.attrNames args);
    assert (args ? format) != (args ? pyproject);
    assert args ? format -> args.format == "wheel";
    assert args ? pyproject -> args.pyproject == true && args ? build-system;
    assert builtins.isString args.pname && builtins.isString args.version;
    assert builtins.all builtins.isString (args.pythonImportsCheck or [ ]);
    assert builtins.all builtins.isString (args.autoPatchelfIgnoreMissingDeps or [ ]);
    let kind = if args ? format then "wheel" else "sdist"; in
    mk (args.pname + "-" + args.version + "-" + kind) // {{
      args = {{
        inherit (args) pname version;
        src = if builtins.isPath args.src then {{ path = toString args.src; }} else args.src;
        format = args.format or null;
        pyproject = args.pyproject or null;
        build-system = names (args.build-system or [ ]);
        nativeBuildInputs = names (args.nativeBuildInputs or [ ]);
        buildInputs = names (args.buildInputs or [ ]);
        autoPatchelfIgnoreMissingDeps = args.autoPatchelfIgnoreMissingDeps or [ ];
        preFixup = args.preFixup or null;
        dependencies = names args.dependencies;
        pythonImportsCheck = args.pythonImportsCheck or [ ];
        dontCheckRuntimeDeps = args.dontCheckRuntimeDeps or false;
      }};
    }};
  fetchurl = {{ url, hash, name ? null }}:
    assert builtins.match "sha(256|384|512)-[A-Za-z0-9+/]+=*" hash != null;
    assert name == null || builtins.match "[A-Za-z0-9+._?=-]+" name != null;  # what a store path name allows
    {{ inherit url hash; }} // (if name == null then {{ }} else {{ inherit name; }});
  nixpkgsPython = {python_tree};
  # python.override as nixpkgs has it: the package set is a fixpoint, packageOverrides extends it
  mkPython = version: overrides:
    let
      interpreter = mk "python${{version}}" // {{
        pythonVersion = version;
        sitePackages = "lib/python${{version}}/site-packages";
        pkgs = packageSet;
        withPackages = f: mk "python${{version}}-env" // {{ packages = names (f packageSet); }};
        override = {{ packageOverrides, self }}: mkPython version packageOverrides;
      }};
      base = nixpkgsPython // {{ inherit buildPythonPackage; python = interpreter; }};
      packageSet = let fix = f: let x = f x; in x; in fix (final: base // overrides final base);
    in
    interpreter;
  native = {native_tree} // {{
    inherit fetchurl;
    python3 = mkPython "3.13" (final: prev: {{ }});  # as in nixpkgs 25.11
    python311 = mkPython "3.11" (final: prev: {{ }});
    python312 = mkPython "3.12" (final: prev: {{ }});
    python313 = mkPython "3.13" (final: prev: {{ }});
    mkShell = args: mk "shell" // {{ packages = names args.packages; }};
  }};
in
native
"""


def _write_env_eval(path: Path, workdir: Path, native, python, arguments: str, select: str) -> Path:
    nix_parse(path)
    (workdir / "envstub.nix").write_text(env_stub_nix(native, python))
    call = f"import {path.resolve()} ({{ pkgs = import ./envstub.nix; }} // {arguments})"
    eval_file = workdir / "envcall.nix"
    eval_file.write_text(f"let result = {call}; in {select}\n")
    return eval_file


def evaluate_environment(path: Path, workdir: Path, native: Iterable[str], python: Iterable[str] = (),
                         arguments: str = "{ }") -> Dict[str, object]:
    """Evaluate the environment file at ``path`` against :func:`env_stub_nix`, called with ``arguments`` (Nix
    text, e.g. ``{ preferWheels = false; providers = { numpy = "sdist"; }; }``).

    Returns ``packages`` (name -> the recorded arguments of the derivation built, or the nixpkgs name), ``env``
    (the names withPackages got) and ``shell`` (the names mkShell got)."""
    select = ("{ packages = builtins.mapAttrs (n: p: p.args or p.name) result.packages; "
              "env = result.env.packages; shell = result.shell.packages; default = result.name; }")
    eval_file = _write_env_eval(path, workdir, native, python, arguments, select)
    return json.loads(_run(["--readonly-mode", "--eval", "--strict", "--json", eval_file.name], workdir))


def environment_error(path: Path, workdir: Path, native: Iterable[str], python: Iterable[str] = (),
                      arguments: str = "{ }") -> str:
    """The error Nix reports when evaluating the environment at ``path`` fails (AssertionError if it succeeds)."""
    eval_file = _write_env_eval(path, workdir, native, python, arguments, "result.packages")
    proc = subprocess.run([require_nix(), "--readonly-mode", "--eval", "--strict", "--json", eval_file.name],
                          cwd=workdir, env=_env(workdir), capture_output=True, text=True, timeout=60)
    if proc.returncode == 0:
        raise AssertionError(f"evaluation was expected to fail, gave: {proc.stdout[:500]}")
    return proc.stderr
