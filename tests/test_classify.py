"""Classification of a wheel's needed sonames into Nix inputs, on wheels holding real cc-built ELF members."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, Optional

import pytest
from builders import make_wheel
from elfbuild import compile_so

from wheelmeta import audit_wheel
from wheelmeta.model import ElfFacts, WheelAudit
from wheelmeta.patchelf_nix.classify import CLASSES, NixInputs, needed_sonames, nix_inputs
from wheelmeta.patchelf_nix.sonames import ENV_VAR, SonameMap

TAG = "cp311-cp311-manylinux_2_17_x86_64"
TENSORFLOW = Path("/work/corpus/big/tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl")
TORCH_CUDA = Path("/opt/pypi-more/files/torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl")
# pkgs/development/python-modules/torch/bin/default.nix: the cudaPackages in nixpkgs' own torch-bin buildInputs
# (cusparselt there is the deprecated alias of libcusparse_lt; cuda_nvtx only serves nvfuser, not in this wheel)
TORCH_BIN_CUDA = {
    "cudaPackages.cuda_cudart", "cudaPackages.cuda_cupti", "cudaPackages.cuda_nvrtc", "cudaPackages.cudnn",
    "cudaPackages.libcusparse_lt", "cudaPackages.libcublas", "cudaPackages.libcufft", "cudaPackages.libcufile",
    "cudaPackages.libcurand", "cudaPackages.libcusolver", "cudaPackages.libcusparse", "cudaPackages.nccl",
}


@pytest.fixture(scope="module")
def builtin() -> SonameMap:
    return SonameMap.load(environ={})


class Wheels:
    """Builds wheels whose extension modules really link against the named sonames (stub libraries)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stubs = folder / "stubs"

    def stub(self, soname: str) -> None:
        if not (self.stubs / soname).exists():
            compile_so(self.stubs, soname, f"int stub_{abs(hash(soname))}(void) {{ return 0; }}\n", soname=soname)

    def wheel(self, name: str, needs: Iterable[str], files: Optional[Dict[str, bytes]] = None, **link) -> Path:
        needs = list(needs)
        for soname in needs:
            self.stub(soname)
        ext = compile_so(
            self.folder / name, "_ext.so", "int PyInit__ext(void) { return 0; }\n",
            libs=[f":{s}" for s in needs] + list(link.pop("libs", [])), lib_dirs=[self.stubs], **link,
        )
        members = {f"{name}/_ext.so": ext.read_bytes(), f"{name}/__init__.py": b""}
        members.update(files or {})
        return make_wheel(self.folder / "dist", name, "1.0", tag=TAG, files=members)


@pytest.fixture
def wheels(tmp_path) -> Wheels:
    return Wheels(tmp_path)


def test_wheel_needing_gl_and_x11_gets_those_attributes(wheels, builtin):
    path = wheels.wheel("gui", ["libGL.so.1", "libX11.so.6", "libxcb.so.1"], libs=["m"])
    inputs = nix_inputs(audit_wheel(path), builtin)
    assert inputs.build_inputs == ("libGL", "libx11", "libxcb")
    assert inputs.by_soname["libm.so.6"] == {"class": "glibc", "attribute": None}
    assert inputs.unknown == () and not inputs.driver_runpath


def test_cxx_extension_needs_only_the_cc_runtime(wheels, builtin):
    inputs = nix_inputs(audit_wheel(wheels.wheel("cxx", [], libs=["stdc++", "m"])), builtin)
    assert inputs.build_inputs == ("stdenv.cc.cc.lib",)
    assert inputs.by_soname["libstdc++.so.6"]["class"] == "cc-runtime"


def test_driver_library_is_ignored_and_asks_for_the_driver_runpath(wheels, builtin):
    inputs = nix_inputs(audit_wheel(wheels.wheel("gpu", ["libcuda.so.1", "libcudart.so.12"])), builtin)
    assert inputs.build_inputs == ("cudaPackages.cuda_cudart",)
    assert inputs.ignore_missing_deps == ("libcuda.so.1",)
    assert inputs.driver_runpath is True


def test_unpackaged_library_is_ignored_without_the_driver_runpath(wheels, builtin):
    inputs = nix_inputs(audit_wheel(wheels.wheel("matlabish", ["libmx.so"])), builtin)
    assert inputs.ignore_missing_deps == ("libmx.so",) and inputs.unpackaged == ("libmx.so",)
    assert inputs.driver_runpath is False and inputs.build_inputs == ()


def test_library_carried_in_the_wheel_is_not_an_input(wheels, builtin, tmp_path):
    bundled = compile_so(tmp_path / "libs", "libz-abc123.so.1", "int zz(void){return 0;}\n", soname="libz-abc123.so.1")
    path = wheels.wheel(
        "bundles", ["libz-abc123.so.1"], runpath=["$ORIGIN/../bundles.libs"],
        files={"bundles.libs/libz-abc123.so.1": bundled.read_bytes()},
    )
    audit = audit_wheel(path)
    inputs = nix_inputs(audit, builtin)
    assert inputs.carried == ("libz-abc123.so.1",)
    assert inputs.by_soname["libz-abc123.so.1"] == {
        "class": "carried", "attribute": None, "member": "bundles.libs/libz-abc123.so.1",
    }
    assert inputs.build_inputs == ()


def test_library_elsewhere_in_the_wheel_without_rpath_counts_as_carried(wheels, builtin, tmp_path):
    """autoPatchelfHook indexes every *.so* file of the output, so no RPATH is needed (triton's plugins)."""
    core = compile_so(tmp_path / "core", "libcore.so", "int core(void){return 0;}\n", soname="libcore.so")
    path = wheels.wheel("plugged", ["libcore.so"], files={"plugged/_C/libcore.so": core.read_bytes()})
    audit = audit_wheel(path)
    assert "libcore.so" not in audit.carried_libs  # the loader alone would not find it
    inputs = nix_inputs(audit, builtin)
    assert inputs.by_soname["libcore.so"] == {"class": "carried", "attribute": None, "member": "plugged/_C/libcore.so"}
    assert inputs.unknown == ()


def test_need_met_only_by_a_hashed_copy_is_preloaded_and_ignored_not_an_input(wheels, builtin, tmp_path):
    """autoPatchelfHook looks libraries up by file name: libcudart-<hash>.so.13 never answers libcudart.so.13."""
    hashed = compile_so(tmp_path / "libs", "libcudart.so.13", "int cu(void){return 0;}\n", soname="libcudart.so.13")
    path = wheels.wheel("vision", ["libcudart.so.13"], runpath=["$ORIGIN/../vision.libs"],
                        files={"vision.libs/libcudart-1a2b3c4d.so.13": hashed.read_bytes()})
    inputs = nix_inputs(audit_wheel(path), builtin)
    assert inputs.by_soname["libcudart.so.13"] == {
        "class": "preloaded", "attribute": None, "member": "vision.libs/libcudart-1a2b3c4d.so.13",
    }
    assert inputs.preloaded == ("libcudart.so.13",) and inputs.carried == ()
    assert "libcudart.so.13" in inputs.ignore_missing_deps and inputs.build_inputs == ()


def test_unknown_soname_is_listed_never_dropped(wheels, builtin):
    inputs = nix_inputs(audit_wheel(wheels.wheel("odd", ["libmystery-vendor.so.3", "libz.so.1"])), builtin)
    assert inputs.unknown == ("libmystery-vendor.so.3",)
    assert inputs.by_soname["libmystery-vendor.so.3"] == {"class": "unknown", "attribute": None}
    assert inputs.build_inputs == ("zlib",)


def test_every_needed_soname_lands_in_exactly_one_class(wheels, builtin):
    needs = ["libGL.so.1", "libcuda.so.1", "libmystery-vendor.so.3", "libpython3.11.so.1.0", "libtorch_cpu.so",
             "libmx.so"]
    audit = audit_wheel(wheels.wheel("mixed", needs, libs=["stdc++", "m"]))
    inputs = nix_inputs(audit, builtin)
    assert set(inputs.by_soname) == set(needed_sonames(audit))
    assert {info["class"] for info in inputs.by_soname.values()} <= set(CLASSES)
    assert {s for s, info in inputs.by_soname.items() if info["class"] not in ("glibc",)} == set(needs) | {
        "libstdc++.so.6"
    }


def test_libpython_is_reported_apart_from_build_inputs(wheels, builtin):
    inputs = nix_inputs(audit_wheel(wheels.wheel("embeds", ["libpython3.11.so.1.0"])), builtin)
    assert inputs.libpython == ("libpython3.11.so.1.0",)
    assert inputs.by_soname["libpython3.11.so.1.0"] == {"class": "libpython", "attribute": "python"}
    assert inputs.build_inputs == ()


def test_another_python_packages_library_becomes_one_search_path(wheels, builtin):
    inputs = nix_inputs(audit_wheel(wheels.wheel("tvext", ["libtorch_cpu.so", "libc10.so"])), builtin)
    assert inputs.python_search_paths == (("torch", "torch/lib"),)
    assert inputs.build_inputs == ()


def test_pure_wheel_has_no_inputs(tmp_path, builtin):
    path = make_wheel(tmp_path, "purely", "1.0", files={"purely/__init__.py": b""})
    inputs = nix_inputs(audit_wheel(path), builtin)
    assert inputs == NixInputs(by_soname={}) and not inputs.needs_patchelf


def test_map_override_changes_the_classification(wheels, tmp_path):
    path = wheels.wheel("odd2", ["libmystery-vendor.so.3"])
    override = tmp_path / "map.toml"
    override.write_text('[sonames]\n"libmystery-vendor.so.*" = "mystery"\n')
    inputs = nix_inputs(audit_wheel(path), SonameMap.load(override, environ={}))
    assert inputs.build_inputs == ("mystery",) and inputs.unknown == ()


def test_environment_override_applies_when_no_map_is_given(wheels, tmp_path, monkeypatch):
    path = wheels.wheel("odd3", ["libmystery-vendor.so.3"])
    override = tmp_path / "env.toml"
    override.write_text('[sonames]\n"libmystery-vendor.so.3" = { class = "driver" }\n')
    monkeypatch.setenv(ENV_VAR, str(override))
    inputs = nix_inputs(audit_wheel(path))
    assert inputs.ignore_missing_deps == ("libmystery-vendor.so.3",) and inputs.driver_runpath


def test_needs_of_several_members_are_merged_in_first_seen_order(builtin):
    audit = WheelAudit(
        wheel="x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        elf_files=(
            ElfFacts(path="x/a.so", needed=("libz.so.1", "libc.so.6")),
            ElfFacts(path="x/b.so", needed=("libc.so.6", "libzstd.so.1", "libz.so.1")),
        ),
    )
    assert needed_sonames(audit) == ["libz.so.1", "libc.so.6", "libzstd.so.1"]
    assert nix_inputs(audit, builtin).build_inputs == ("zlib", "zstd")


def test_json_object_has_the_keys_scan_prints(builtin):
    audit = WheelAudit(wheel="x.whl", elf_files=(ElfFacts(path="x/a.so", needed=("libcuda.so.1", "libq.so.9")),))
    out = nix_inputs(audit, builtin).to_json()
    assert out["buildInputs"] == [] and out["ignoreMissingDeps"] == ["libcuda.so.1"]
    assert out["unknown"] == ["libq.so.9"] and out["carried"] == []
    assert out["by_soname"] == {
        "libcuda.so.1": {"class": "driver", "attribute": None},
        "libq.so.9": {"class": "unknown", "attribute": None},
    }


@pytest.mark.skipif(not TENSORFLOW.exists(), reason=f"{TENSORFLOW} not on this machine")
def test_tensorflow_2_1_needs_exactly_the_cxx_runtime(builtin):
    inputs = nix_inputs(audit_wheel(TENSORFLOW), builtin)
    assert inputs.build_inputs == ("stdenv.cc.cc.lib",)
    assert inputs.unknown == () and inputs.ignore_missing_deps == ()


@pytest.mark.skipif(not TORCH_CUDA.exists(), reason=f"{TORCH_CUDA} not on this machine")
def test_cuda_torch_gets_cuda_packages_and_the_driver_like_nixpkgs_torch_bin(builtin):
    inputs = nix_inputs(audit_wheel(TORCH_CUDA), builtin)
    # the same packages as torch-bin, each from the CUDA release whose major its soname needs: this wheel is
    # CUDA 13 (libcudart.so.13), which the default cudaPackages (12.9) cannot give
    packages = {a.split(".", 1)[1] for a in inputs.build_inputs if a.startswith("cudaPackages")}
    assert {a.split(".", 1)[1] for a in TORCH_BIN_CUDA} <= packages
    assert inputs.by_soname["libcudart.so.13"]["attribute"] == "cudaPackages_13.cuda_cudart"
    assert {a for a in inputs.build_inputs if not a.startswith("cudaPackages")} == {"stdenv.cc.cc.lib"}
    assert inputs.ignore_missing_deps == ("libcuda.so.1",) and inputs.driver_runpath
    assert inputs.unknown == ()


# --- the nix object of `wheelmeta scan --json` --------------------------------------------------------------


def test_scan_json_has_a_nix_object_per_wheel(wheels, capsys):
    from wheelmeta.cli import main

    path = wheels.wheel("gui2", ["libGL.so.1", "libcuda.so.1"])
    assert main(["scan", "--json", str(path)]) == 0
    (obj,) = json.loads(capsys.readouterr().out)
    assert obj["nix"]["buildInputs"] == ["libGL"]
    assert obj["nix"]["ignoreMissingDeps"] == ["libcuda.so.1"]
    assert obj["nix"]["by_soname"]["libGL.so.1"] == {"class": "nixpkgs", "attribute": "libGL"}


def test_scan_map_option_overrides_the_nix_object(wheels, tmp_path, capsys):
    from wheelmeta.cli import main

    path = wheels.wheel("gui3", ["libGL.so.1"])
    override = tmp_path / "over.toml"
    override.write_text('[sonames]\n"libGL.so.1" = "libglvnd"\n')
    assert main(["scan", "--json", "--map", str(override), str(path)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["nix"]["buildInputs"] == ["libglvnd"]


def test_scan_with_a_bad_map_fails_before_reading_wheels(tmp_path, capsys):
    from wheelmeta.cli import main

    override = tmp_path / "bad.toml"
    override.write_text("[sonames\n")
    assert main(["scan", "--json", "--map", str(override), str(tmp_path / "missing.whl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"wheelmeta: error: {override}: not valid TOML") and err.count("\n") == 1
