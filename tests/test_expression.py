"""The buildPythonPackage expression: every one parsed and evaluated by the real nix-instantiate against a stub pkgs.

The audits and classified inputs are built here (the audit and classification have their own tests); the wheels
are real zip files, and the SRI hash is checked against the file's own sha256.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from builders import make_wheel
from nixstub import evaluate, nix_parse
from wheelmeta.errors import UsageError
from wheelmeta.model import DistMetadata, ElfFacts, WheelAudit
from wheelmeta.patchelf_nix.classify import NixInputs
from wheelmeta.patchelf_nix.expression import (
    default_target,
    WheelNotForNixpkgs,
    import_modules,
    nix_expression,
    nix_platforms,
    python_guard,
    package_attribute_names,
    package_function,
    package_set_expression,
    sri_hash,
)

CC = "stdenv.cc.cc.lib"
CUDA = [
    "cudaPackages.cuda_cudart",
    "cudaPackages.cuda_cupti",
    "cudaPackages.cuda_nvrtc",
    "cudaPackages.cudnn",
    "cudaPackages.libcublas",
    "cudaPackages.nccl",
]


def _wheel(tmp_path, name="demo", version="1.0", tag="cp311-cp311-manylinux_2_17_x86_64", files=None, **kw):
    files = files if files is not None else {f"{name}/__init__.py": b"", f"{name}/_core.so": b"\x7fELF"}
    return make_wheel(tmp_path / "dist", name, version, tag=tag, files=files, **kw)


def _audit(wheel, needed=(), interpreter=None, kind="elf"):
    elf = (ElfFacts(path="demo/_core.so", needed=tuple(needed), interpreter=interpreter),) if kind == "elf" else ()
    return WheelAudit(wheel=str(wheel), kind=kind, elf_files=elf)


def _metadata(name="demo", version="1.0", requires=(), **kw):
    return DistMetadata(name=name, version=version, requires_dist=tuple(Requirement(r) for r in requires), **kw)


def _evaluate(tmp_path, text, native=(), python=()):
    work = tmp_path / "nix"
    work.mkdir(exist_ok=True)
    return evaluate(text, work, native, python)


def test_tensorflow_like_wheel_gets_exactly_the_cc_runtime(tmp_path):
    wheel = _wheel(tmp_path, "tensorflow", "2.1.0", tag="cp37-cp37m-manylinux2010_x86_64",
                   files={"tensorflow/__init__.py": b"", "tensorflow_core/__init__.py": b""})
    md = _metadata("tensorflow", "2.1.0", ["numpy<2.0,>=1.16.0", "six>=1.12.0", "wheel>=0.26; python_version >= '3'",
                                           "functools32>=3.2.3; python_version < '3'"])
    audit = _audit(wheel, ["libstdc++.so.6", "libgcc_s.so.1", "libm.so.6", "libc.so.6"])
    inputs = NixInputs(build_inputs=(CC,))
    text = nix_expression(wheel, audit=audit, metadata=md, inputs=inputs, relative_to=tmp_path / "nix")
    result = _evaluate(tmp_path, text, native=[CC], python=["numpy", "six", "wheel"])
    assert result["buildInputs"] == [CC]
    assert result["nativeBuildInputs"] == ["autoPatchelfHook"]
    assert result["dependencies"] == ["python3Packages.numpy", "python3Packages.six", "python3Packages.wheel"]
    assert result["pythonImportsCheck"] == ["tensorflow", "tensorflow_core"]
    assert result["src"] == {"path": str(wheel)}


def test_cuda_wheel_takes_cudapackages_and_ignores_the_driver_as_torch_bin_does(tmp_path):
    wheel = _wheel(tmp_path, "torch", "2.4.1", files={"torch/__init__.py": b"", "torch/lib/libtorch_cuda.so": b""})
    md = _metadata("torch", "2.4.1", ["filelock", "typing-extensions>=4.8.0", "sympy", "networkx", "jinja2",
                                      "nvidia-cudnn-cu12==9.1.0.70; platform_system == 'Linux'",
                                      "triton==3.0.0; platform_system == 'Linux' and platform_machine == 'x86_64'"])
    audit = _audit(wheel, ["libcudart.so.12", "libcublas.so.12", "libcudnn.so.9", "libcuda.so.1", "libc.so.6"])
    inputs = NixInputs(build_inputs=tuple([CC] + CUDA), ignore_missing_deps=("libcuda.so.1",), driver_runpath=True)
    text = nix_expression(wheel, audit=audit, metadata=md, inputs=inputs, url="https://127.0.0.1/torch.whl")
    result = _evaluate(tmp_path, text, native=[CC] + CUDA,
                       python=["filelock", "typing-extensions", "sympy", "networkx", "jinja2", "triton"])
    assert result["buildInputs"] == sorted(CUDA + [CC])
    assert result["autoPatchelfIgnoreMissingDeps"] == ["libcuda.so.1"]
    assert result["nativeBuildInputs"] == ["autoPatchelfHook", "autoAddDriverRunpath"]
    assert "python3Packages.triton" in result["dependencies"]
    assert not any("nvidia" in d for d in result["dependencies"])
    assert "with cudaPackages" not in text and "cudaPackages,\n" in text  # the set is a formal, paths spelled out


def test_gl_and_x11_wheel_gets_their_attributes(tmp_path):
    wheel = _wheel(tmp_path)
    inputs = NixInputs(build_inputs=("libGL", "libx11", "libxcb", CC))
    text = nix_expression(wheel, audit=_audit(wheel, ["libGL.so.1", "libX11.so.6", "libxcb.so.1"]),
                          metadata=_metadata(), inputs=inputs)
    result = _evaluate(tmp_path, text, native=["libGL", "libx11", "libxcb", CC])
    assert result["buildInputs"] == sorted(["libGL", "libx11", "libxcb", CC])


def test_misspelled_attribute_fails_evaluation_against_the_stub(tmp_path):
    wheel = _wheel(tmp_path)
    text = nix_expression(wheel, audit=_audit(wheel, ["libcudart.so.12"]), metadata=_metadata(),
                          inputs=NixInputs(build_inputs=("cudaPackages.cuda_cudrt",)))
    with pytest.raises(AssertionError, match="cuda_cudrt"):
        _evaluate(tmp_path, text, native=CUDA)


def test_pure_wheel_has_no_autopatchelf_and_no_build_inputs(tmp_path):
    wheel = _wheel(tmp_path, "purelib", tag="py3-none-any", files={"purelib.py": b""})
    text = nix_expression(wheel, audit=_audit(wheel, kind="pure"), metadata=_metadata("purelib", requires=["PyYAML"]),
                          inputs=NixInputs())
    result = _evaluate(tmp_path, text, python=["pyyaml"])
    assert result["nativeBuildInputs"] == [] and result["buildInputs"] == []
    assert "autoPatchelfHook" not in text and "sourceProvenance" not in text
    assert result["dependencies"] == ["python3Packages.pyyaml"]
    assert result["pythonImportsCheck"] == ["purelib"]


def test_executable_member_needing_only_glibc_still_gets_autopatchelf_for_its_interpreter(tmp_path):
    wheel = _wheel(tmp_path)
    audit = _audit(wheel, ["libc.so.6"], interpreter="/lib64/ld-linux-x86-64.so.2")
    text = nix_expression(wheel, audit=audit, metadata=_metadata(), inputs=NixInputs())
    assert _evaluate(tmp_path, text)["nativeBuildInputs"] == ["autoPatchelfHook"]


def test_preloaded_library_is_ignored_under_a_comment_that_says_why(tmp_path):
    wheel = _wheel(tmp_path)
    audit = _audit(wheel, ["libcudart.so.13", "libcuda.so.1"])
    inputs = NixInputs(ignore_missing_deps=("libcuda.so.1", "libcudart.so.13"), driver_runpath=True,
                       preloaded=("libcudart.so.13",),
                       by_soname={"libcudart.so.13": {"class": "preloaded", "attribute": None},
                                  "libcuda.so.1": {"class": "driver", "attribute": None}})
    text = nix_expression(wheel, audit=audit, metadata=_metadata(), inputs=inputs)
    assert "# carried only under another file name" in text and "# provided by the driver" in text
    result = _evaluate(tmp_path, text)
    assert result["autoPatchelfIgnoreMissingDeps"] == ["libcuda.so.1", "libcudart.so.13"]


def test_sri_hash_is_base64_of_the_files_sha256(tmp_path):
    wheel = _wheel(tmp_path)
    text = nix_expression(wheel, audit=_audit(wheel), metadata=_metadata(), inputs=NixInputs(build_inputs=(CC,)),
                          url="https://127.0.0.1/demo-1.0.whl")
    result = _evaluate(tmp_path, text, native=[CC])
    digest = hashlib.sha256(wheel.read_bytes()).digest()
    assert result["src"] == {"url": "https://127.0.0.1/demo-1.0.whl",
                             "hash": "sha256-" + base64.b64encode(digest).decode()}


def test_sri_hash_refuses_what_is_not_a_sha256():
    with pytest.raises(UsageError):
        sri_hash("abc")


def test_hostile_summary_evaluates_back_to_the_same_text(tmp_path):
    hostile = 'say "hi" \\ ${builtins.abort "pwned"} $${x} \'\' ${ ; } # tail'
    wheel = _wheel(tmp_path)
    md = _metadata(summary=hostile, home_page="https://127.0.0.1/home", license="MIT")
    text = nix_expression(wheel, audit=_audit(wheel), metadata=md, inputs=NixInputs(build_inputs=(CC,)))
    meta = _evaluate(tmp_path, text, native=[CC])["meta"]
    assert meta["description"] == hostile
    assert meta["homepage"] == "https://127.0.0.1/home" and meta["license"] == "mit"


def test_unknown_soname_stays_visible_as_a_comment(tmp_path):
    wheel = _wheel(tmp_path)
    text = nix_expression(wheel, audit=_audit(wheel, ["libmystery.so.3"]), metadata=_metadata(),
                          inputs=NixInputs(unknown=("libmystery.so.3",)))
    assert "# unknown to the soname map, add its input: libmystery.so.3" in text
    result = _evaluate(tmp_path, text)
    assert result["buildInputs"] == [] and result["nativeBuildInputs"] == ["autoPatchelfHook"]


def test_native_input_shadowed_by_a_python_package_is_taken_from_pkgs(tmp_path):
    wheel = _wheel(tmp_path)
    text = nix_expression(wheel, audit=_audit(wheel, ["libzstd.so.1"]), metadata=_metadata(requires=["zstd"]),
                          inputs=NixInputs(build_inputs=("zstd",)))
    result = _evaluate(tmp_path, text, native=["zstd"], python=["zstd"])
    assert result["buildInputs"] == ["zstd"]
    assert result["dependencies"] == ["python3Packages.zstd"]


def test_library_from_another_python_package_gets_a_search_path_hook(tmp_path):
    wheel = _wheel(tmp_path, "torchvision")
    inputs = NixInputs(build_inputs=(CC,), python_search_paths=(("torch", "torch/lib"),))
    text = nix_expression(wheel, audit=_audit(wheel, ["libtorch.so"]), metadata=_metadata("torchvision"),
                          inputs=inputs)
    result = _evaluate(tmp_path, text, native=[CC], python=["torch"])
    assert result["preFixup"].strip() == (
        'addAutoPatchelfSearchPath "/stub/python3Packages.torch/lib/python3.13/site-packages/torch/lib"'
    )


def test_dependencies_follow_the_target_markers(tmp_path):
    wheel = _wheel(tmp_path, tag="cp37-cp37m-manylinux2010_x86_64")
    md = _metadata(requires=["importlib-metadata; python_version < '3.8'", "pywin32; sys_platform == 'win32'",
                             "typing_extensions", "socks; extra == 'proxy'"])
    text = nix_expression(wheel, audit=_audit(wheel), metadata=md, inputs=NixInputs(build_inputs=(CC,)))
    result = _evaluate(tmp_path, text, native=[CC], python=["importlib-metadata", "typing-extensions"])
    assert result["dependencies"] == ["python3Packages.importlib-metadata", "python3Packages.typing-extensions"]


def test_default_target_reads_the_wheels_python_version():
    assert default_target("x-1.0-cp37-cp37m-manylinux2010_x86_64.whl").python_version == "3.7"
    assert default_target("x-1.0-cp310.cp311-none-manylinux_2_17_x86_64.whl").python_version == "3.11"
    assert default_target("x-1.0-py3-none-any.whl").python_version == "3.13"


def test_default_target_is_the_wheels_platform_not_the_hosts():
    target = default_target("x-1.0-cp38-abi3-macosx_11_0_arm64.whl")
    assert target.marker_environment()["sys_platform"] == "darwin"
    assert default_target("x-1.0-py3-none-any.whl").marker_environment()["sys_platform"] == "linux"


def test_import_modules_leave_out_private_and_test_folders(tmp_path):
    wheel = _wheel(tmp_path, files={"demo/__init__.py": b"", "_private.py": b"", "tests/test_x.py": b"",
                                    "ext.cpython-311-x86_64-linux-gnu.so": b"", "demo.libs/libz.so.1": b""})
    assert import_modules(wheel) == ["demo", "ext"]


def test_several_wheels_make_one_package_set_that_sees_each_other(tmp_path):
    base = _wheel(tmp_path, "basepkg", files={"basepkg/__init__.py": b""})
    app = _wheel(tmp_path, "app-pkg", files={"app_pkg/__init__.py": b""})
    entries = []
    for wheel, md in ((base, _metadata("basepkg")), (app, _metadata("app-pkg", requires=["basepkg", "numpy"]))):
        fn = package_function(wheel, audit=_audit(wheel), metadata=md, inputs=NixInputs(build_inputs=(CC,)),
                              relative_to=tmp_path / "nix")
        entries.append(fn)
    names = package_attribute_names(["basepkg", "app-pkg"])
    text = package_set_expression(zip(names, entries))
    work = tmp_path / "nix"
    work.mkdir()
    result = evaluate(text, work, native=[CC], python=["numpy"], package_set=True)
    assert sorted(result) == ["app-pkg", "basepkg"]
    assert result["app-pkg"]["dependencies"] == ["python3Packages.basepkg", "python3Packages.numpy"]
    assert result["basepkg"]["src"] == {"path": str(base)}


def test_package_attribute_names_are_unique():
    assert package_attribute_names(["PyYAML", "pyyaml", "opencv-python"]) == ["pyyaml", "pyyaml-2", "opencv4"]


def test_wheel_path_with_spaces_becomes_a_concatenated_path(tmp_path):
    wheel = _wheel(tmp_path)
    odd = wheel.with_name("my wheels") / wheel.name
    odd.parent.mkdir()
    wheel.rename(odd)
    text = nix_expression(odd, audit=_audit(odd), metadata=_metadata(), inputs=NixInputs(build_inputs=(CC,)),
                          relative_to=tmp_path / "nix")
    assert _evaluate(tmp_path, text, native=[CC])["src"] == {"path": str(odd)}


def test_expression_file_parses_on_its_own(tmp_path):
    wheel = _wheel(tmp_path)
    out = tmp_path / "demo.nix"
    out.write_text(nix_expression(wheel, audit=_audit(wheel), metadata=_metadata(), inputs=NixInputs()))
    assert "buildPythonPackage" in nix_parse(out)


def test_license_expression_of_known_ids_becomes_a_list_of_lib_licenses(tmp_path):
    wheel = _wheel(tmp_path)
    md = _metadata(license="BSD-3-Clause AND 0BSD AND (MIT OR Zlib)")
    text = nix_expression(wheel, audit=_audit(wheel), metadata=md, inputs=NixInputs(build_inputs=(CC,)))
    assert _evaluate(tmp_path, text, native=[CC])["meta"]["license"] == ["bsd3", "bsd0", "mit", "zlib"]


def test_license_with_an_unknown_id_is_left_out_rather_than_guessed(tmp_path):
    wheel = _wheel(tmp_path)
    text = nix_expression(wheel, audit=_audit(wheel), metadata=_metadata(license="MIT AND LicenseRef-Proprietary"),
                          inputs=NixInputs(build_inputs=(CC,)))
    assert "license" not in _evaluate(tmp_path, text, native=[CC])["meta"]


def test_attribute_path_that_is_not_nix_code_is_refused(tmp_path):
    wheel = _wheel(tmp_path)
    with pytest.raises(UsageError, match="not a Nix attribute path"):
        nix_expression(wheel, audit=_audit(wheel, ["libz.so.1"]), metadata=_metadata(),
                       inputs=NixInputs(build_inputs=('zlib; }; evil = "x',)))


def test_soname_with_a_line_break_cannot_escape_its_comment(tmp_path):
    wheel = _wheel(tmp_path)
    text = nix_expression(wheel, audit=_audit(wheel, ["libx.so\n]; evil = 1; x = ["]), metadata=_metadata(),
                          inputs=NixInputs(unknown=("libx.so\n]; evil = 1; x = [",)))
    assert "evil" not in _evaluate(tmp_path, text)


def test_search_path_into_a_wheel_of_the_same_set_evaluates(tmp_path):
    torch = _wheel(tmp_path, "torch", files={"torch/__init__.py": b""})
    vision = _wheel(tmp_path, "torchvision")
    trees = [
        package_function(torch, audit=_audit(torch), metadata=_metadata("torch"), inputs=NixInputs(build_inputs=(CC,))),
        package_function(vision, audit=_audit(vision, ["libtorch.so"]), metadata=_metadata("torchvision"),
                         inputs=NixInputs(python_search_paths=(("torch", "torch/lib"),))),
    ]
    work = tmp_path / "nix"
    work.mkdir()
    result = evaluate(package_set_expression(zip(["torch", "torchvision"], trees)), work, native=[CC],
                      package_set=True)
    assert "/stub/python3Packages.torch/lib/python3.13/site-packages/torch/lib" in result["torchvision"]["preFixup"]


def test_description_is_one_line_without_a_final_period(tmp_path):
    wheel = _wheel(tmp_path)
    md = _metadata(summary="  Fast arrays\n   for everyone.  ")
    text = nix_expression(wheel, audit=_audit(wheel), metadata=md, inputs=NixInputs(build_inputs=(CC,)))
    assert _evaluate(tmp_path, text, native=[CC])["meta"]["description"] == "Fast arrays for everyone"


def _guard_text(filename):
    from wheelmeta.patchelf_nix.nixwriter import render

    guard = python_guard(filename)
    return None if guard is None else render(guard[0]).strip()


def test_guard_spells_out_each_python_the_tags_leave_out():
    assert _guard_text("x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl") == 'pythonOlder "3.12" || pythonAtLeast "3.13"'
    assert _guard_text("x-1.0-cp39-abi3-manylinux_2_17_x86_64.whl") == 'pythonOlder "3.9"'
    assert _guard_text("x-1.0-cp38.cp310-none-manylinux_2_17_x86_64.whl") == \
        'pythonOlder "3.8" || pythonAtLeast "3.11" || python.pythonVersion == "3.9"'
    assert _guard_text("x-1.0-py2-none-any.whl") == 'pythonAtLeast "3"'
    assert _guard_text("x-1.0-py3-none-any.whl") is None


def test_guard_with_a_gap_evaluates_against_the_stub(tmp_path):
    wheel = _wheel(tmp_path, tag="cp312.cp314-none-manylinux_2_17_x86_64")  # 3.13, the stub's, is the gap
    text = nix_expression(wheel, audit=_audit(wheel, ["libc.so.6"]), metadata=_metadata(), inputs=NixInputs())
    assert _evaluate(tmp_path, text)["disabled"] is True


def test_platforms_follow_the_tags_and_refuse_what_nixpkgs_cannot_run():
    assert nix_platforms("x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == ["x86_64-linux"]
    assert nix_platforms("x-1.0-cp311-cp311-manylinux2014_ppc64le.whl") == ["powerpc64le-linux"]
    assert nix_platforms("x-1.0-cp311-cp311-macosx_11_0_arm64.whl") == ["aarch64-darwin"]
    assert nix_platforms("x-1.0-py3-none-any.whl") == []
    with pytest.raises(WheelNotForNixpkgs, match="Windows"):
        nix_platforms("x-1.0-cp311-cp311-win_amd64.whl")
    with pytest.raises(WheelNotForNixpkgs, match="musl"):
        nix_platforms("x-1.0-cp311-cp311-musllinux_1_2_x86_64.whl")
