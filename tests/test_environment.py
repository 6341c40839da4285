"""The environment file (patchelf_nix/environment.py): one Nix file for a lock, each package's kind chosen when
the file is evaluated. Every file is parsed by ``nix-instantiate --parse`` and evaluated against the stub pkgs of
tests/nixstub.py, which records what each ``buildPythonPackage`` call got."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lockbuild import (
    SEED_NATIVE,
    SEED_NIXPKGS_PYTHON,
    archive,
    lock_dict,
    package,
    seed_packages,
    toml_text,
    write_lock,
)
from nixstub import environment_error, evaluate_environment, nix_parse, require_nix
from packaging.pylock import Pylock

from wheelmeta.errors import InvalidLock
from wheelmeta.patchelf_nix.environment import environment_expression, read_pylock
from wheelmeta.patchelf_nix.expression import sri_hash


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    lock = read_pylock(write_lock(tmp_path / "pylock.toml", seed_packages()))
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(lock, lock_path=str(tmp_path / "pylock.toml")))
    nix_parse(path)  # every file a test writes is Nix the real parser accepts
    return path


def evaluate(env_file: Path, arguments: str = "{ }"):
    require_nix()
    return evaluate_environment(env_file, env_file.parent, SEED_NATIVE, SEED_NIXPKGS_PYTHON, arguments)


def evaluation_error(env_file: Path, arguments: str, python=SEED_NIXPKGS_PYTHON) -> str:
    require_nix()
    return environment_error(env_file, env_file.parent, SEED_NATIVE, python, arguments)


def built_from(result, name: str) -> str:
    """``wheel`` or ``sdist`` for a package the file built, ``nixpkgs`` for one taken from python.pkgs."""
    got = result["packages"][name]
    if isinstance(got, str):
        assert got == f"nixpkgs:{name}"
        return "nixpkgs"
    assert (got["format"], got["pyproject"]) in (("wheel", None), (None, True))
    assert got["src"]["url"].endswith(".whl" if got["format"] else ".tar.gz")
    return "wheel" if got["format"] == "wheel" else "sdist"


def test_by_default_every_package_with_a_wheel_is_built_from_it(env_file):
    result = evaluate(env_file)
    kinds = {name: built_from(result, name) for name in result["packages"]}
    assert kinds == {"fastmath": "wheel", "oldsetup": "sdist", "purelib": "wheel", "tensorflow": "wheel"}


def test_prefer_wheels_false_builds_every_package_with_an_sdist_from_it(env_file):
    result = evaluate(env_file, "{ preferWheels = false; }")
    kinds = {name: built_from(result, name) for name in result["packages"]}
    assert kinds == {"fastmath": "sdist", "oldsetup": "sdist", "purelib": "sdist", "tensorflow": "wheel"}


@pytest.mark.parametrize("flag", ["true", "false"])
def test_a_provider_decides_for_its_package_whatever_the_flag(env_file, flag):
    providers = '{ fastmath = "nixpkgs"; purelib = "sdist"; tensorflow = "wheel"; oldsetup = "sdist"; }'
    result = evaluate(env_file, f"{{ preferWheels = {flag}; providers = {providers}; }}")
    kinds = {name: built_from(result, name) for name in result["packages"]}
    assert kinds == {"fastmath": "nixpkgs", "oldsetup": "sdist", "purelib": "sdist", "tensorflow": "wheel"}


def test_a_wheel_provider_overrides_prefer_wheels_false(env_file):
    result = evaluate(env_file, '{ preferWheels = false; providers = { purelib = "wheel"; }; }')
    assert built_from(result, "purelib") == "wheel"
    assert built_from(result, "fastmath") == "sdist"


def test_the_wheel_derivation_fetches_the_locked_wheel_with_its_hash(env_file):
    wheel = evaluate(env_file)["packages"]["fastmath"]
    name = "fastmath-2.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert wheel["src"] == {"url": archive(name)["url"], "hash": sri_hash(archive(name)["hashes"]["sha256"])}
    assert (wheel["pname"], wheel["version"]) == ("fastmath", "2.0")


def test_the_sdist_derivation_fetches_the_sdist_and_builds_with_its_build_requirements(env_file):
    sdist = evaluate(env_file, "{ preferWheels = false; }")["packages"]["fastmath"]
    assert sdist["src"] == {"url": archive("fastmath-2.0.tar.gz")["url"],
                            "hash": sri_hash(archive("fastmath-2.0.tar.gz")["hashes"]["sha256"])}
    assert sdist["build-system"] == ["nixpkgs:cython", "nixpkgs:setuptools"]  # wheel's marker is false on 3.12
    assert sdist["nativeBuildInputs"] == [] and sdist["buildInputs"] == []


def test_a_build_requirement_whose_marker_is_false_for_the_target_is_left_out_with_a_comment(env_file):
    text = env_file.read_text()
    assert "# left out, its marker does not hold for the lock's target: wheel; python_version < \"3.8\"" in text


def test_a_lock_that_names_no_target_keeps_build_requirements_with_markers_and_says_so(tmp_path):
    data = lock_dict(seed_packages())
    del data["tool"]
    (tmp_path / "pylock.toml").write_text(toml_text(data))
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(read_pylock(tmp_path / "pylock.toml")))
    assert "# wheel: taken whatever its marker says" in path.read_text()
    sdist = evaluate(path, "{ preferWheels = false; }")["packages"]["fastmath"]
    assert sdist["build-system"] == ["nixpkgs:cython", "nixpkgs:setuptools", "nixpkgs:wheel"]


def test_an_sdist_without_recorded_build_requirements_gets_setuptools_and_wheel(env_file):
    assert evaluate(env_file)["packages"]["oldsetup"]["build-system"] == ["nixpkgs:setuptools", "nixpkgs:wheel"]


def test_a_wheel_with_native_inputs_gets_the_hooks_and_inputs_the_lock_records(env_file):
    wheel = evaluate(env_file)["packages"]["fastmath"]
    assert wheel["nativeBuildInputs"] == ["autoPatchelfHook", "autoAddDriverRunpath"]
    assert wheel["buildInputs"] == ["stdenv.cc.cc.lib", "zlib"]
    assert wheel["autoPatchelfIgnoreMissingDeps"] == ["libcuda.so.1"]
    assert wheel["pythonImportsCheck"] == ["fastmath"]


def test_a_pure_wheel_gets_no_patching(env_file):
    wheel = evaluate(env_file)["packages"]["purelib"]
    assert wheel["nativeBuildInputs"] == [] and wheel["buildInputs"] == [] and wheel["preFixup"] is None


def test_the_wheel_only_package_has_the_cpp_runtime_as_its_only_native_input(env_file):
    wheel = evaluate(env_file, "{ preferWheels = false; }")["packages"]["tensorflow"]
    assert wheel["buildInputs"] == ["stdenv.cc.cc.lib"]
    assert wheel["nativeBuildInputs"] == ["autoPatchelfHook"]


def test_a_dependency_is_the_sets_own_package_of_the_kind_chosen_for_it(env_file):
    deps = evaluate(env_file, '{ providers = { purelib = "sdist"; }; }')["packages"]["fastmath"]["dependencies"]
    assert deps == ["purelib-1.0-sdist", "tensorflow-2.1.0-wheel"]


def test_a_library_from_another_locked_wheel_is_found_through_its_search_path(env_file):
    hook = evaluate(env_file)["packages"]["fastmath"]["preFixup"]
    expected = '/stub/tensorflow-2.1.0-wheel/lib/python3.12/site-packages/tensorflow_core"'
    assert f'addAutoPatchelfSearchPath "{expected}' in hook


def test_a_search_path_into_a_package_outside_the_lock_takes_nixpkgs_package_and_says_so(tmp_path):
    entry = package("torchvision", "0.29.0", wheel="cp312-cp312-manylinux_2_28_x86_64",
                    wheelmeta={"nix": {"build-inputs": ["stdenv.cc.cc.lib"],
                                       "python-search-paths": [{"attribute": "torch", "path": "torch/lib"}]}})
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict([entry]))))
    assert "# torchvision 0.29.0: its wheel needs libraries of torch, which is not in the lock" in path.read_text()
    hook = evaluate_environment(path, tmp_path, ["stdenv.cc.cc.lib"], ["torch"])["packages"]["torchvision"]["preFixup"]
    assert '"/stub/nixpkgs:torch/lib/python3.12/site-packages/torch/lib"' in hook


def test_a_dependency_cycle_is_cut_once_and_every_package_stays_in_the_environment(tmp_path):
    packages = [package("dask", "2024.1.0", wheel="py3-none-any", dependencies=["distributed"]),
                package("distributed", "2024.1.0", wheel="py3-none-any", dependencies=["dask"])]
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict(packages))))
    result = evaluate_environment(path, tmp_path, [], [])  # no infinite recursion
    # the walk goes in name order: dask keeps its edge, distributed's back to dask is the one cut
    assert result["packages"]["dask"]["dependencies"] == ["distributed-2024.1.0-wheel"]
    assert result["packages"]["dask"]["dontCheckRuntimeDeps"] is False
    assert result["packages"]["distributed"]["dependencies"] == []
    assert result["packages"]["distributed"]["dontCheckRuntimeDeps"] is True
    assert result["env"] == ["dask-2024.1.0-wheel", "distributed-2024.1.0-wheel"]
    assert "# dask: left out to break a dependency cycle" in path.read_text()


def test_a_build_requirement_on_the_package_itself_comes_from_nixpkgs(tmp_path):
    packages = [package("flit-core", "3.9.0", sdist=True, wheelmeta={"build-requires": ["flit-core>=3.8"]})]
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict(packages))))
    result = evaluate_environment(path, tmp_path, [], ["flit-core"])
    assert result["packages"]["flit-core"]["build-system"] == ["nixpkgs:flit-core"]


def test_env_and_shell_hold_every_package_as_chosen(env_file):
    result = evaluate(env_file, "{ preferWheels = false; }")
    assert result["env"] == ["fastmath-2.0-sdist", "oldsetup-0.9-sdist", "purelib-1.0-sdist", "tensorflow-2.1.0-wheel"]
    assert result["shell"] == ["python3.12-env"] and result["default"] == "python3.12-env"


def test_the_default_interpreter_is_nixpkgs_attribute_of_the_python_the_lock_was_made_for(env_file):
    assert "python ? pkgs.python312 or (throw " in env_file.read_text()  # the lock says requires-python = "==3.12.*"
    assert evaluate(env_file)["default"] == "python3.12-env"  # not the stub's python3, which is 3.13


def test_a_nixpkgs_without_the_locks_python_says_what_to_pass(tmp_path):
    data = lock_dict(seed_packages())
    data["requires-python"] = "==3.7.*"
    (tmp_path / "pylock.toml").write_text(toml_text(data))
    lock = read_pylock(tmp_path / "pylock.toml")
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(lock, lock_path=str(tmp_path / "pylock.toml")))
    error = evaluation_error(path, "{ }")
    assert "wheelmeta env: this nixpkgs has no python37, and the lock is for Python 3.7: pass python" in error


def test_another_python_minor_version_throws_naming_both_and_the_attribute_to_pass(env_file):
    error = evaluation_error(env_file, "{ python = (import ./envstub.nix).python311; }")
    assert "wheelmeta env: the lock is for Python 3.12; python is 3.11 (pass python = pkgs.python312)" in error


def test_asking_for_a_kind_the_lock_does_not_have_throws_naming_the_package(env_file):
    error = evaluation_error(env_file, '{ providers = { oldsetup = "wheel"; }; }')
    assert "wheelmeta env: oldsetup cannot be built from wheel; it can be built from: nixpkgs, sdist" in error


def test_asking_nixpkgs_for_a_package_it_lacks_throws_naming_the_package(env_file):
    error = evaluation_error(env_file, '{ providers = { purelib = "nixpkgs"; }; }', python=["setuptools", "wheel"])
    assert "wheelmeta env: purelib cannot be taken from nixpkgs: python.pkgs has no purelib" in error


def test_nixpkgs_means_the_nixpkgs_attribute_of_the_name_and_cuda_wheels_have_none(tmp_path):
    packages = [package("opencv-python", "4.10.0.84", wheel="cp37-abi3-manylinux_2_17_x86_64"),
                package("nvidia-cuda-runtime-cu12", "12.4.127", wheel="py3-none-manylinux2014_x86_64")]
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict(packages))))
    result = evaluate_environment(path, tmp_path, [], ["opencv4"], '{ providers = { opencv-python = "nixpkgs"; }; }')
    assert result["packages"]["opencv-python"] == "nixpkgs:opencv4"
    error = environment_error(path, tmp_path, [], [], '{ providers = { nvidia-cuda-runtime-cu12 = "nixpkgs"; }; }')
    assert "nvidia-cuda-runtime-cu12 cannot be built from nixpkgs; it can be built from: wheel" in error


def test_a_provider_for_a_package_outside_the_lock_throws_naming_it(env_file):
    error = evaluation_error(env_file, '{ providers = { purelibb = "sdist"; }; }')
    assert "providers names packages the lock does not have: purelibb" in error


def test_a_package_with_one_kind_says_so_in_a_comment(env_file):
    text = env_file.read_text()
    assert "# tensorflow 2.1.0: the lock has only a wheel, used whatever preferWheels says" in text
    assert "# oldsetup 0.9: the lock has only an sdist, built from it whatever preferWheels says" in text


def test_unknown_native_libraries_are_said_loudly(env_file):
    text = env_file.read_text()
    assert "# WARNING: fastmath 2.0: no nixpkgs input is known for libmystery.so.3" in text
    assert "# unknown to the soname map, add its input: libmystery.so.3" in text


def test_the_same_lock_gives_the_same_bytes_whatever_the_order_of_its_entries():
    forward = Pylock.from_dict(lock_dict(seed_packages()))
    backward = lock_dict(seed_packages())
    backward["packages"].reverse()
    assert environment_expression(forward) == environment_expression(Pylock.from_dict(backward))


def test_a_url_not_ending_in_the_file_name_gets_the_file_name_for_the_store_path(tmp_path):
    entry = package("purelib", "1.0", wheel="py3-none-any")
    entry["wheels"][0]["url"] = "http://127.0.0.1:9/files/purelib/1.0/download"
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict([entry]))))
    src = evaluate_environment(path, tmp_path, [], [])["packages"]["purelib"]["src"]
    assert src["name"] == "purelib-1.0-py3-none-any.whl"


def test_an_archive_the_lock_gives_by_path_is_a_path_relative_to_the_nix_file(tmp_path):
    entry = package("purelib", "1.0", wheel="py3-none-any")
    del entry["wheels"][0]["url"]
    entry["wheels"][0]["path"] = "wheels/purelib-1.0-py3-none-any.whl"  # PEP 751: relative to the lock
    (tmp_path / "lock").mkdir()
    lock = write_lock(tmp_path / "lock" / "pylock.toml", [entry])
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(read_pylock(lock), lock_path=str(lock), relative_to=str(tmp_path)))
    assert "src = ./lock/wheels/purelib-1.0-py3-none-any.whl;" in path.read_text()
    src = evaluate_environment(path, tmp_path, [], [])["packages"]["purelib"]["src"]
    assert src == {"path": str(tmp_path.resolve() / "lock" / "wheels" / "purelib-1.0-py3-none-any.whl")}


def test_a_direct_reference_archive_is_built_as_the_kind_its_file_name_says(tmp_path):
    wheel = {"name": "direct-wheel", "version": "1.0",
             "archive": {"url": "http://127.0.0.1:9/direct_wheel-1.0-py3-none-any.whl", "hashes": {"sha256": "a" * 64}}}
    sdist = {"name": "direct-sdist", "version": "2.0",
             "archive": {"url": "http://127.0.0.1:9/direct_sdist-2.0.tar.gz", "hashes": {"sha256": "b" * 64}}}
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict([wheel, sdist]))))
    packages = evaluate_environment(path, tmp_path, [], ["setuptools", "wheel"])["packages"]
    assert (built_from({"packages": packages}, "direct-wheel"), built_from({"packages": packages}, "direct-sdist")) \
        == ("wheel", "sdist")
    assert packages["direct-wheel"]["src"]["url"] == wheel["archive"]["url"]


def test_an_sdist_that_declares_other_dependencies_than_its_wheel_is_built_with_its_own(tmp_path):
    entry = package("purelib", "1.0", wheel="py3-none-any", sdist=True, dependencies=["idna"],
                    wheelmeta={"sdist-dependencies-differ": {"sdist": ["chardet>=3"], "wheel": ["idna>=2"]}})
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict([entry, package("idna", "3.0", sdist=True)]))))
    assert "purelib 1.0: its sdist declares other dependencies than its wheel (sdist: chardet>=3; wheel: idna>=2)" \
        in path.read_text()
    packages = evaluate_environment(path, tmp_path, [], ["chardet", "setuptools", "wheel"],
                                    "{ preferWheels = false; }")["packages"]
    assert packages["purelib"]["dependencies"] == ["nixpkgs:chardet"]
    wheel = evaluate_environment(path, tmp_path, [], ["setuptools", "wheel"])["packages"]["purelib"]
    assert wheel["dependencies"] == ["idna-3.0-sdist"]


def test_hostile_text_in_a_url_stays_a_string(tmp_path):
    entry = package("purelib", "1.0", wheel="py3-none-any")
    entry["wheels"][0]["url"] = 'http://127.0.0.1:9/x"${builtins.abort "owned"}.whl'
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict([entry]))))
    result = evaluate_environment(path, tmp_path, [], [])
    assert result["packages"]["purelib"]["src"]["url"] == entry["wheels"][0]["url"]


def test_a_lock_packaging_rejects_is_one_error_naming_the_file(tmp_path):
    data = lock_dict(seed_packages())
    data["packages"][0]["name"] = "Not_Normalized"
    path = tmp_path / "pylock.toml"
    path.write_text(toml_text(data))
    with pytest.raises(InvalidLock, match=r"pylock\.toml: not a valid PEP 751 lock: .*Not_Normalized"):
        read_pylock(path)


def test_two_entries_for_one_package_are_refused_naming_the_lock():
    data = lock_dict(seed_packages() + [package("purelib", "1.1", wheel="py3-none-any")])
    with pytest.raises(InvalidLock, match="several for purelib"):
        environment_expression(Pylock.from_dict(data), lock_path="pylock.toml")


def test_a_name_that_is_not_a_nix_identifier_is_quoted_everywhere(tmp_path):
    packages = [package("3to2", "1.1.1", wheel="py3-none-any", sdist=True),
                package("user", "1.0", wheel="py3-none-any", dependencies=["3to2"])]
    path = tmp_path / "env.nix"
    path.write_text(environment_expression(Pylock.from_dict(lock_dict(packages))))
    result = evaluate_environment(path, tmp_path, [], ["3to2", "setuptools", "wheel"], "{ preferWheels = false; }")
    assert result["packages"]["user"]["dependencies"] == ["3to2-1.1.1-sdist"]
    assert result["env"] == ["3to2-1.1.1-sdist", "user-1.0-wheel"]
    nixpkgs = evaluate_environment(path, tmp_path, [], ["3to2"], '{ providers = { "3to2" = "nixpkgs"; }; }')
    assert nixpkgs["packages"]["3to2"] == "nixpkgs:3to2"


def test_a_package_named_like_an_attribute_the_python_set_uses_for_itself_is_refused():
    data = lock_dict(seed_packages() + [package("python", "0.1", wheel="py3-none-any")])
    with pytest.raises(InvalidLock, match="a package named python would replace"):
        environment_expression(Pylock.from_dict(data), lock_path="pylock.toml")


def test_fuzzed_locks_give_a_file_or_one_invalid_lock_error(tmp_path):
    """Fixed-seed mutations of the seed lock's text: read and written, or InvalidLock; nothing else escapes."""
    text = toml_text(lock_dict(seed_packages())).encode()
    rng = random.Random(10)
    path = tmp_path / "pylock.toml"
    for _ in range(300):
        data = bytearray(text)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[pos] = rng.randrange(256)
            elif choice < 0.7:
                del data[pos:pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = rng.choice([b'"', b"{", b"]", b"=", b"[[", b"\\", b"0", b'"sha256"', b"true"])
        path.write_bytes(bytes(data))
        try:
            environment_expression(read_pylock(path), lock_path=str(path))
        except InvalidLock as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


def test_fuzzed_wheelmeta_tables_give_a_file_or_one_invalid_lock_error(tmp_path):
    """The [tool.wheelmeta] tables are outside input packaging does not check: any value of any type there gives
    a file that parses, or InvalidLock; text that would run in the shell hook never gets there."""
    rng = random.Random(751)
    values = [None, 0, True, "", "x y", '"${', "a.b", [], ["${x}"], [1], {}, {"attribute": 1}, [{"attribute": "x"}],
              [{"attribute": "tensorflow", "path": "../$(reboot)"}]]
    keys = ["build-requires", "build-backend", "sdist-dependencies-differ", "nix", "build-inputs", "unknown",
            "ignore-missing-deps", "driver-runpath", "python-search-paths", "import-modules"]
    written = []
    for _ in range(200):
        packages = seed_packages()
        for _ in range(rng.randint(1, 4)):
            table = rng.choice(packages)["tool"]["wheelmeta"]
            key = rng.choice(keys)
            target = table if key in keys[:4] or not isinstance(table.get("nix"), dict) else table["nix"]
            value = rng.choice(values)
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        try:
            text = environment_expression(Pylock.from_dict(lock_dict(packages)), lock_path="pylock.toml")
        except InvalidLock as exc:
            assert str(exc).startswith("pylock.toml: ") and "\n" not in str(exc)
            continue
        written.append(text)
        assert not [line for line in text.splitlines() if "addAutoPatchelfSearchPath" in line and "$(" in line]
    assert len(written) > 50
    # one parse for all: a list of the files' expressions, each in parentheses
    require_nix()
    everything = tmp_path / "all.nix"
    everything.write_text("[\n" + "".join(f"(\n{text})\n" for text in written) + "]\n")
    nix_parse(everything)
