"""The user's nixpkgs decides: the map's attributes checked against stub nixpkgs trees with the real nix-instantiate.

A stub tree is a folder with a ``default.nix`` taking nixpkgs' ``{ ... }:`` arguments and defining attributes with
versions in the shapes nixpkgs uses: top level (``libx11``), nested sets (``xorg.libX11``,
``cudaPackages.cuda_cudart``), versioned attributes (``libxml2_13``) and aliases that throw. Wheels hold real
cc-built extension modules linking the sonames under test; ``nix-instantiate`` is wrapped by a script on PATH that
logs each run, so the number of evaluations is counted, not assumed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from builders import make_wheel
from elfbuild import compile_so
from nixstub import nix_parse, require_nix

from wheelmeta import audit_wheel
from wheelmeta.patchelf_nix.classify import nix_inputs
from wheelmeta.patchelf_nix.nixpkgs_check import (
    NIXPKGS_FROM_NIX_PATH,
    AttributeProbe,
    NixpkgsCheck,
    NixpkgsCheckError,
    check_audits,
    locate_nixpkgs,
    probes_from_answer,
)
from wheelmeta.patchelf_nix.sonames import SonameMap

TAG = "cp311-cp311-manylinux_2_17_x86_64"

#: nixpkgs 25.11 shapes: the by-name X11 packages with the xorg.* aliases, libxml2 2.14 beside libxml2_13
NEW_TREE = """{ ... }: rec {
  libx11 = { pname = "libx11"; version = "1.8.12"; };
  xorg = { libX11 = libx11; };
  libxml2 = { version = "2.14.6"; };
  libxml2_13 = { version = "2.13.8"; };
  zlib = { version = "1.3.1"; };
  cudaPackages = { cuda_cudart = { version = "12.9.79"; }; };
  cudaPackages_13 = { cuda_cudart = { version = "13.2.51"; }; };
  stdenv = { cc = { cc = { lib = { version = "14.3.0"; }; }; }; };
}
"""

#: an older revision: X11 only under xorg.*, libxml2 still 2.13, no libxml2_13, an alias that was removed
OLD_TREE = """{ ... }: {
  xorg = { libX11 = { version = "1.8.7"; }; libXext = throw "xorg.libXext was removed"; };
  libxml2 = { version = "2.13.4"; };
  zlib = { version = "1.3"; };
  cudaPackages = { cuda_cudart = { version = "12.4.127"; }; };
  stdenv = { cc = { cc = { lib = { version = "13.3.0"; }; }; }; };
}
"""


@pytest.fixture
def nix_env(tmp_path, monkeypatch) -> Path:
    """A private Nix state (no daemon, nothing under /nix) and a logging nix-instantiate first on PATH."""
    real = require_nix()
    state = tmp_path / ".nix"
    for sub in ("state", "conf", "log", "home"):
        (state / sub).mkdir(parents=True)
    monkeypatch.setenv("NIX_STATE_DIR", str(state / "state"))
    monkeypatch.setenv("NIX_CONF_DIR", str(state / "conf"))
    monkeypatch.setenv("NIX_LOG_DIR", str(state / "log"))
    monkeypatch.setenv("HOME", str(state / "home"))
    monkeypatch.setenv("NIX_PATH", "")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "nix-runs.log"
    wrapper = bin_dir / "nix-instantiate"
    wrapper.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{real}" --readonly-mode "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def tree(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "default.nix").write_text(text)
    nix_parse(folder / "default.nix")
    return folder


def wheel_needing(folder: Path, name: str, needs) -> Path:
    stubs = folder / "stubs"
    for soname in needs:
        if not (stubs / soname).exists():
            compile_so(stubs, soname, f"int stub_{abs(hash(soname))}(void) {{ return 0; }}\n", soname=soname)
    ext = compile_so(folder / name, "_ext.so", "int PyInit__ext(void) { return 0; }\n",
                     libs=[f":{s}" for s in needs], lib_dirs=[stubs])
    return make_wheel(folder / "dist", name, "1.0", tag=TAG, files={f"{name}/_ext.so": ext.read_bytes()})


@pytest.fixture
def builtin() -> SonameMap:
    return SonameMap.load(environ={})


def inputs_against(tree_path: Path, wheel: Path, soname_map: SonameMap):
    audit = audit_wheel(wheel)
    return nix_inputs(audit, soname_map, nixpkgs=check_audits([audit], soname_map, str(tree_path)))


# --- spelling, missing attribute, wrong major -------------------------------------------------------------------


def test_the_revision_decides_the_spelling_of_a_renamed_attribute(tmp_path, nix_env, builtin):
    wheel = wheel_needing(tmp_path, "gui", ["libX11.so.6"])
    new = inputs_against(tree(tmp_path / "new", NEW_TREE), wheel, builtin)
    old = inputs_against(tree(tmp_path / "old", OLD_TREE), wheel, builtin)
    assert new.build_inputs == ("libx11",) and new.nixpkgs_problems == ()
    assert old.build_inputs == ("xorg.libX11",) and old.nixpkgs_problems == ()


def test_an_attribute_missing_from_the_users_nixpkgs_moves_the_soname_to_unknown(tmp_path, nix_env, builtin):
    wheel = wheel_needing(tmp_path, "xml", ["libxml2.so.2"])
    old_tree = tree(tmp_path / "old", OLD_TREE.replace('  libxml2 = { version = "2.13.4"; };\n', ""))
    inputs = inputs_against(old_tree, wheel, builtin)
    assert inputs.unknown == ("libxml2.so.2",) and inputs.build_inputs == ()
    problem = inputs.by_soname["libxml2.so.2"]["problem"]
    assert "libxml2_13" in problem and str(old_tree) in problem and "not in the nixpkgs" in problem


def test_an_alias_that_throws_counts_as_missing_not_as_an_evaluation_error(tmp_path, nix_env, builtin):
    wheel = wheel_needing(tmp_path, "ext", ["libXext.so.6"])
    inputs = inputs_against(tree(tmp_path / "old", OLD_TREE), wheel, builtin)
    assert inputs.unknown == ("libXext.so.6",)
    assert "libxext or xorg.libXext is not in the nixpkgs" in inputs.by_soname["libXext.so.6"]["problem"]


def test_a_version_that_gives_another_major_is_reported_with_attribute_and_nixpkgs(tmp_path, nix_env, builtin):
    wheel = wheel_needing(tmp_path, "xml", ["libxml2.so.16"])
    old_tree = tree(tmp_path / "old", OLD_TREE)
    inputs = inputs_against(old_tree, wheel, builtin)
    assert inputs.unknown == ("libxml2.so.16",)
    problem = inputs.by_soname["libxml2.so.16"]["problem"]
    assert "libxml2 2.13.4" in problem and str(old_tree) in problem and "does not provide it" in problem


def test_the_versioned_attribute_serves_the_old_major(tmp_path, nix_env, builtin):
    wheel = wheel_needing(tmp_path, "xml", ["libxml2.so.2", "libxml2.so.16"])
    inputs = inputs_against(tree(tmp_path / "new", NEW_TREE), wheel, builtin)
    assert inputs.build_inputs == ("libxml2", "libxml2_13") and inputs.unknown == ()


def test_a_cuda_library_must_come_from_the_cuda_release_of_its_major(tmp_path, nix_env, builtin):
    wheel = wheel_needing(tmp_path, "cu", ["libcudart.so.12"])
    inputs = inputs_against(tree(tmp_path / "new", NEW_TREE), wheel, builtin)
    assert inputs.build_inputs == ("cudaPackages.cuda_cudart",)
    override = tmp_path / "cu11.toml"
    override.write_text('[sonames]\n"libcudart.so.11.0" = { attribute = "cudaPackages.cuda_cudart" }\n')
    wheel11 = wheel_needing(tmp_path, "cu11", ["libcudart.so.11.0"])
    soname_map = SonameMap.load(override, environ={})
    assert inputs_against(tree(tmp_path / "new2", NEW_TREE), wheel11, soname_map).build_inputs == (
        "cudaPackages.cuda_cudart",), "an override without a rule is only checked for existence"
    wheel13 = wheel_needing(tmp_path, "cu13", ["libcudart.so.13"])
    assert inputs_against(tree(tmp_path / "new3", NEW_TREE), wheel13, builtin).build_inputs == (
        "cudaPackages_13.cuda_cudart",)
    old = inputs_against(tree(tmp_path / "old", OLD_TREE), wheel13, builtin)
    assert old.unknown == ("libcudart.so.13",) and "cudaPackages_13.cuda_cudart" in old.nixpkgs_problems[0]


def test_an_override_rule_is_applied_to_the_users_nixpkgs(tmp_path, nix_env):
    override = tmp_path / "mine.toml"
    override.write_text('[sonames]\n"libz.so.1" = { attribute = "zlib", provides = ">=1.3.1" }\n')
    wheel = wheel_needing(tmp_path, "z", ["libz.so.1"])
    soname_map = SonameMap.load(override, environ={})
    assert inputs_against(tree(tmp_path / "new", NEW_TREE), wheel, soname_map).build_inputs == ("zlib",)
    old = inputs_against(tree(tmp_path / "old", OLD_TREE), wheel, soname_map)
    assert old.unknown == ("libz.so.1",) and "needs a version >=1.3.1" in old.nixpkgs_problems[0]


# --- one evaluation per output ----------------------------------------------------------------------------------


def test_one_evaluation_checks_every_wheel_of_a_scan(tmp_path, nix_env):
    new_tree = tree(tmp_path / "new", NEW_TREE)
    first = wheel_needing(tmp_path, "one", ["libX11.so.6", "libz.so.1"])
    second = wheel_needing(tmp_path, "two", ["libxml2.so.2", "libstdc++.so.6"])
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", "--json", "--nixpkgs", str(new_tree),
                             str(first), str(second)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert runs(nix_env) == 1
    nix = {Path(o["wheel"]).name: o["nix"] for o in json.loads(result.stdout)}
    assert nix[first.name]["buildInputs"] == ["libx11", "zlib"]
    assert nix[second.name]["buildInputs"] == ["libxml2_13", "stdenv.cc.cc.lib"]
    assert all(n["nixpkgs"] == {"checked": True, "path": str(new_tree), "problems": []} for n in nix.values())


def test_one_evaluation_for_a_whole_package_set_expression(tmp_path, nix_env):
    new_tree = tree(tmp_path / "new", NEW_TREE)
    first = wheel_needing(tmp_path, "one", ["libX11.so.6"])
    second = wheel_needing(tmp_path, "two", ["libxml2.so.16", "libz.so.1"])
    out = tmp_path / "set.nix"
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "nix", "--nixpkgs", str(new_tree), "-o", str(out),
                             str(first), str(second)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert runs(nix_env) == 1
    nix_parse(out)
    text = out.read_text()
    assert "libx11" in text and "libxml2" in text and "not checked against a nixpkgs" not in text


def test_nix_reports_what_the_users_nixpkgs_lacks_as_a_comment_and_a_warning(tmp_path, nix_env):
    old_tree = tree(tmp_path / "old", OLD_TREE)
    wheel = wheel_needing(tmp_path, "xml", ["libxml2.so.16"])
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "nix", "--nixpkgs", str(old_tree), str(wheel)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "# not in your nixpkgs, add its input: libxml2.so.16: libxml2 2.13.4" in result.stdout
    assert f"libxml2 2.13.4 in the nixpkgs at {old_tree}" in result.stderr
    assert "no nixpkgs input known" not in result.stderr  # the map knows it; that nixpkgs cannot give it


def test_scan_text_without_a_nixpkgs_says_unchecked_and_runs_no_evaluation(tmp_path, nix_env):
    wheel = wheel_needing(tmp_path, "z", ["libz.so.1"])
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "nixpkgs:  unchecked" in result.stdout and runs(nix_env) == 0


def test_nixpkgs_on_nix_path_is_used_when_no_option_names_one(tmp_path, nix_env, monkeypatch):
    new_tree = tree(tmp_path / "new", NEW_TREE)
    monkeypatch.setenv("NIX_PATH", f"nixpkgs={new_tree}")
    wheel = wheel_needing(tmp_path, "gui", ["libX11.so.6"])
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"nixpkgs:  checked against {new_tree}" in result.stdout and "nixpkgs: libx11" in result.stdout
    none = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", "--nixpkgs", "none", str(wheel)],
                          capture_output=True, text=True)
    assert "nixpkgs:  unchecked" in none.stdout and runs(nix_env) == 1


def test_a_nixpkgs_that_fails_to_evaluate_is_a_one_line_error_naming_it(tmp_path, nix_env):
    broken = tree(tmp_path / "broken", '{ ... }: throw "this nixpkgs is broken"\n')
    wheel = wheel_needing(tmp_path, "z", ["libz.so.1"])
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", "--nixpkgs", str(broken), str(wheel)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f"wheelmeta: error: {broken}: nix-instantiate failed:")
    assert "this nixpkgs is broken" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_broken_nixpkgs_found_only_on_nix_path_is_a_warning_and_the_output_unchecked(tmp_path, nix_env, monkeypatch):
    broken = tree(tmp_path / "broken", '{ ... }: throw "this nixpkgs is broken"\n')
    monkeypatch.setenv("NIX_PATH", f"nixpkgs={broken}")
    wheel = wheel_needing(tmp_path, "z", ["libz.so.1"])
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0
    assert "wheelmeta: warning:" in result.stderr and "found on NIX_PATH" in result.stderr
    assert "nixpkgs:  unchecked" in result.stdout and "libz.so.1 [nixpkgs: zlib]" in result.stdout


# --- finding the nixpkgs ----------------------------------------------------------------------------------------


def test_locate_takes_the_option_then_nix_path(tmp_path):
    checkout = tmp_path / "nixpkgs"
    checkout.mkdir()
    (checkout / "default.nix").write_text(NEW_TREE)
    assert locate_nixpkgs(str(checkout), environ={}) == str(checkout)
    assert locate_nixpkgs(None, environ={"NIX_PATH": f"foo=/x:nixpkgs={checkout}"}) == str(checkout)
    assert locate_nixpkgs(None, environ={"NIX_PATH": str(tmp_path)}) == str(checkout)
    assert locate_nixpkgs(None, environ={"NIX_PATH": "nixpkgs=https://example.org/nixpkgs.tar.gz"}) == \
        NIXPKGS_FROM_NIX_PATH
    assert locate_nixpkgs(None, environ={"NIX_PATH": ""}) is None
    assert locate_nixpkgs("none", environ={"NIX_PATH": f"nixpkgs={checkout}"}) is None


def test_locate_refuses_a_folder_without_default_nix(tmp_path):
    with pytest.raises(NixpkgsCheckError, match="no default.nix here"):
        locate_nixpkgs(str(tmp_path), environ={})
    with pytest.raises(NixpkgsCheckError, match="no such nixpkgs checkout"):
        locate_nixpkgs(str(tmp_path / "missing"), environ={})


# --- unverified entries and unchecked output are said where they decide an input -------------------------------


def test_scan_marks_an_input_whose_map_entry_is_unverified(tmp_path):
    wheel = wheel_needing(tmp_path, "mpi", ["libpmix.so.2", "libz.so.1"])
    text = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", "--nixpkgs", "none", str(wheel)],
                          capture_output=True, text=True)
    assert "[nixpkgs: pmix (map entry unverified)]" in text.stdout
    assert "libz.so.1 [nixpkgs: zlib]" in text.stdout
    data = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", "--json", "--nixpkgs", "none", str(wheel)],
                          capture_output=True, text=True)
    nix = json.loads(data.stdout)[0]["nix"]
    assert nix["unverified"] == ["libpmix.so.2"] and nix["nixpkgs"] == {"checked": False, "path": None, "problems": []}


def test_nix_expression_comments_on_unverified_and_unchecked_inputs(tmp_path):
    require_nix()
    wheel = wheel_needing(tmp_path, "mpi", ["libpmix.so.2"])
    out = tmp_path / "mpi.nix"
    result = subprocess.run([sys.executable, "-m", "wheelmeta", "nix", "--nixpkgs", "none", "-o", str(out), str(wheel)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    nix_parse(out)
    text = out.read_text()
    assert "# libpmix.so.2 -> pmix: soname map entry not verified against nixpkgs source" in text
    assert "# inputs not checked against a nixpkgs" in text


def test_a_probe_answer_of_the_wrong_shape_counts_as_missing(tmp_path, nix_env, builtin):
    odd = tree(tmp_path / "odd", '{ ... }: { zlib = "not a package"; }\n')
    wheel = wheel_needing(tmp_path, "z", ["libz.so.1"])
    inputs = inputs_against(odd, wheel, builtin)
    assert inputs.unknown == ("libz.so.1",)
    problem = inputs.nixpkgs_problems[0]
    assert "zlib (no version) in the nixpkgs" in problem and "it has no version" in problem


# --- fuzz: what comes from outside (the evaluation's JSON, NIX_PATH, versions) never raises ---------------------


def _random_json(rng: random.Random, depth: int = 0) -> object:
    text = "".join(rng.choice("0123456789.-abc") for _ in range(rng.randint(0, 8)))
    kinds = [None, True, False, rng.randint(-5, 5), rng.random(), text]
    if depth < 3:
        kinds += [[_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))],
                  {rng.choice(["exists", "version", "libx11", "zlib", "x"]): _random_json(rng, depth + 1)
                   for _ in range(rng.randint(0, 3))}]
    return rng.choice(kinds)


def test_fuzz_evaluation_answers_become_probes_or_missing(builtin):
    rng = random.Random(20261201)
    entry = builtin.lookup("libX11.so.6")
    for _ in range(500):
        answer = _random_json(rng)
        if rng.random() < 0.5:
            answer = {"libx11": _random_json(rng), "xorg.libX11": _random_json(rng)}
        probes = probes_from_answer(answer, entry.spellings())
        assert set(probes) == set(entry.spellings()) and all(isinstance(p, AttributeProbe) for p in probes.values())
        resolved, problem = NixpkgsCheck("/nixpkgs", probes).resolve("libX11.so.6", entry)
        assert (resolved is None) == (problem is not None)


def test_fuzz_nix_path_and_versions_never_raise(tmp_path, builtin):
    rng = random.Random(7)
    alphabet = "nixpkgs=:/.-_ab" + str(tmp_path)
    entry = builtin.lookup("libxml2.so.16")
    for _ in range(500):
        nix_path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        where = locate_nixpkgs(None, environ={"NIX_PATH": nix_path})
        assert where is None or where == NIXPKGS_FROM_NIX_PATH or os.path.isabs(where)
        version = "".join(rng.choice("0123456789.-+abcw ") for _ in range(rng.randint(0, 12)))
        problem = entry.version_problem("libxml2.so.16", version)
        assert problem is None or isinstance(problem, str)


def test_env_checks_a_whole_lock_in_one_evaluation_spelling_and_majors(tmp_path, nix_env):
    import lockbuild

    from wheelmeta.cli import main

    nix = {"build-inputs": ["libx11", "libxml2", "zlib"], "driver-runpath": False,
           "sonames": {"libX11.so.6": "libx11", "libxml2.so.16": "libxml2", "libz.so.1": "zlib"}}
    packages = [lockbuild.package("fastx", "1.0", wheel="cp312-cp312-manylinux_2_28_x86_64", wheelmeta={"nix": nix}),
                lockbuild.package("fasty", "1.0", wheel="cp312-cp312-manylinux_2_28_x86_64",
                                  wheelmeta={"nix": {"build-inputs": ["zlib"], "driver-runpath": False,
                                                     "sonames": {"libz.so.1": "zlib"}}})]
    lock = lockbuild.write_lock(tmp_path / "pylock.toml", packages)
    old = tree(tmp_path / "old", OLD_TREE)
    assert main(["env", str(lock), "--nixpkgs", str(old), "-o", str(tmp_path / "env.nix")]) == 0
    text = (tmp_path / "env.nix").read_text()
    nix_parse(tmp_path / "env.nix")
    assert runs(nix_env) == 1  # one evaluation for every package of the lock
    assert "pkgs.xorg.libX11" in text and "pkgs.libx11" not in text  # that revision's spelling
    assert "pkgs.libxml2" not in text  # 2.13 there: it cannot give libxml2.so.16
    assert "not in your nixpkgs, add its input: libxml2.so.16: libxml2 2.13.4" in text and str(old) in text
    assert "inputs not checked" not in text

    assert main(["env", str(lock), "--nixpkgs", "none", "-o", str(tmp_path / "unchecked.nix")]) == 0
    unchecked = (tmp_path / "unchecked.nix").read_text()
    assert "pkgs.libxml2" in unchecked and "inputs not checked against a nixpkgs" in unchecked
    assert runs(nix_env) == 1
