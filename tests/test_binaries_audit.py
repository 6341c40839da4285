"""binaries/macos.py, windows.py and audit.py: macOS and Windows wheels of real Mach-O and PE files, audited through
``audit_source`` as ``scan`` does, and scan's output for them."""

import json
import subprocess
import sys

import pytest

from builders import make_wheel
from machobuild import dll, dylib, fat, i386_dylib
from wheelmeta.manylinux.audit import audit_source
from wheelmeta.model import BinaryAudit

MAC = "cp311-cp311-macosx_11_0_arm64"
WIN = "cp311-cp311-win_amd64"


@pytest.fixture(scope="module")
def mac(tmp_path_factory):
    """An extension that loads a carried library through its rpath, which loads another through the extension's
    rpath; a Homebrew library; a library next to it that the wheel lacks; and the system's libSystem."""
    folder = tmp_path_factory.mktemp("mac")
    libdeep = dylib(folder, "libdeep")
    liba = dylib(folder, "liba", links=[(libdeep, "load")])
    brew = dylib(folder, "libomp", install_name="/opt/homebrew/opt/libomp/lib/libomp.dylib")
    gone = dylib(folder, "libgone", install_name="@loader_path/libgone.dylib")
    ext = dylib(folder, "_ext", links=[(liba, "load"), (brew, "load"), (gone, "weak")],
                rpaths=["@loader_path/.dylibs"], bundle=True)
    newer = dylib(folder, "_new", min_os="13.0", bundle=True)
    ext_x86 = dylib(folder, "_ext", arch="x86_64", min_os="10.9", bundle=True)
    return {
        "files": {"demo/_ext.so": ext.read_bytes(), "demo/.dylibs/liba.dylib": liba.read_bytes(),
                  "demo/.dylibs/libdeep.dylib": libdeep.read_bytes()},
        "newer": newer.read_bytes(),
        "universal": fat(folder, "_ext.universal", ext, ext_x86).read_bytes(),
        "folder": folder,
        "ext_x86": ext_x86,
    }


def libs(audit: BinaryAudit, member: str):
    return {lib.name: (lib.cls, lib.member) for lib in audit.libraries[member]}


def test_macos_wheel_classes_carried_through_rpaths_system_external_and_missing(tmp_path, mac):
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=MAC, files=mac["files"]))
    assert isinstance(audit, BinaryAudit) and (audit.format, audit.kind) == ("macho", "non-linux")
    assert libs(audit, "demo/_ext.so") == {
        "@rpath/liba.dylib": ("carried", "demo/.dylibs/liba.dylib"),
        "/opt/homebrew/opt/libomp/lib/libomp.dylib": ("external", None),
        "@loader_path/libgone.dylib": ("missing", None),
        "/usr/lib/libSystem.B.dylib": ("system", None),
    }
    # liba has no rpath of its own: dyld finds libdeep through the rpath of the extension that loads liba
    assert libs(audit, "demo/.dylibs/liba.dylib")["@rpath/libdeep.dylib"] == ("carried", "demo/.dylibs/libdeep.dylib")
    assert audit.external_libs == {"/opt/homebrew/opt/libomp/lib/libomp.dylib": ("demo/_ext.so",)}
    assert audit.missing_libs == {"@loader_path/libgone.dylib": ("demo/_ext.so",)}
    assert audit.system_libs == ("/usr/lib/libSystem.B.dylib",)


def test_macos_tag_holds_when_binaries_ask_for_no_newer_macos(tmp_path, mac):
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=MAC, files=mac["files"]))
    assert audit.claims_hold is True and audit.overall_tag == "macosx_11_0_arm64" and audit.min_os == "11.0"


def test_binary_needing_a_newer_macos_than_the_tag_breaks_the_claim(tmp_path, mac):
    files = dict(mac["files"], **{"demo/_new.so": mac["newer"]})
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=MAC, files=files))
    assert audit.claims_hold is False and audit.overall_tag == "macosx_13_0_arm64"
    assert any("claims macosx_11_0_arm64 but demo/_new.so (arm64) needs macOS 13.0" in p for p in audit.problems)


def test_universal2_tag_needs_both_architectures_in_every_extension(tmp_path, mac):
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag="cp311-cp311-macosx_10_9_universal2",
                                    files={"demo/_ext.so": mac["files"]["demo/_ext.so"]}))
    assert audit.claims_hold is False and "has no x86_64 slice" in " ".join(audit.problems)


def test_universal2_fat_extension_holds_with_arm64_slice_at_macos_11(tmp_path, mac):
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag="cp311-cp311-macosx_10_9_universal2",
                                    files={"demo/_ext.so": mac["universal"]}))
    wrong = [p for p in audit.problems if p.startswith("claims")]
    assert audit.claims_hold is True and wrong == [] and audit.archs == ("arm64", "x86_64")
    assert audit.overall_tag == "macosx_10_9_universal2"


def test_intel_tag_with_a_32_and_64_bit_fat_file(tmp_path, mac):
    old = mac["folder"] / "libold.i386"
    old.write_bytes(i386_dylib("@rpath/_old.so", ["/usr/lib/libSystem.B.dylib"], min_os=(10, 6)))
    both = fat(mac["folder"], "_old.intel", old, mac["ext_x86"]).read_bytes()
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag="cp27-cp27m-macosx_10_9_intel",
                                    files={"demo/_old.so": both}))
    assert audit.archs == ("i386", "x86_64") and audit.claims_hold is True
    assert {s.bits for s in audit.binaries[0].slices} == {32, 64}


def test_malformed_member_is_a_problem_and_the_rest_is_audited(tmp_path, mac):
    files = dict(mac["files"], **{"demo/_bad.so": mac["files"]["demo/_ext.so"][:300]})
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=MAC, files=files))
    assert any(p.startswith("demo/_bad.so: ") for p in audit.problems)
    assert audit.carried_libs["@rpath/liba.dylib"] == "demo/.dylibs/liba.dylib"


def test_macos_wheel_without_mach_o_files_says_so(tmp_path):
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=MAC, files={"demo/x.dat": b"\0" * 100}))
    assert audit.binaries == () and audit.problems == ("platform-tagged wheel without any Mach-O file",)


@pytest.fixture(scope="module")
def win(tmp_path_factory):
    folder = tmp_path_factory.mktemp("win")
    ext = dll(folder, "_ext", imports={
        "python311.dll": ["PyLong_FromLong"], "KERNEL32.dll": ["Sleep"], "VCRUNTIME140.dll": ["memcpy"],
        "api-ms-win-crt-runtime-l1-1-0.dll": ["_initterm"], "libfoo-1a2b3c.dll": ["foo"], "MSVCP140.dll": ["cpp"],
        "libbar.dll": ["bar"]}, delay={"nvcuda.dll": ["cuInit"]})
    return {"ext": ext.read_bytes(), "lib": dll(folder, "libfoo", imports={"KERNEL32.dll": ["Sleep"]}).read_bytes(),
            "x86": dll(folder, "helper32", machine="i386", imports={"KERNEL32.dll": ["Sleep"]}).read_bytes()}


def test_windows_wheel_classes_carried_system_runtime_python_and_external(tmp_path, win):
    files = {"demo/_ext.pyd": win["ext"], "demo.libs/libfoo-1a2b3c.dll": win["lib"], "demo/bin/libbar.dll": win["lib"]}
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=WIN, files=files))
    assert audit.format == "pe" and audit.claims_hold is True and audit.overall_tag == "win_amd64"
    assert libs(audit, "demo/_ext.pyd") == {
        "python311.dll": ("python", None), "KERNEL32.dll": ("system", None), "VCRUNTIME140.dll": ("msvc-runtime", None),
        "api-ms-win-crt-runtime-l1-1-0.dll": ("system", None),
        "libfoo-1a2b3c.dll": ("carried", "demo.libs/libfoo-1a2b3c.dll"),  # delvewheel's layout
        "MSVCP140.dll": ("msvc-runtime", None), "libbar.dll": ("carried", "demo/bin/libbar.dll"),
        "nvcuda.dll": ("external", None),
    }
    assert [l.kind for l in audit.libraries["demo/_ext.pyd"] if l.name == "nvcuda.dll"] == ["delay"]
    assert audit.external_libs == {"nvcuda.dll": ("demo/_ext.pyd",)}
    text = " ".join(audit.problems)
    assert "MSVCP140.dll" in text and "Redistributable" in text and "VCRUNTIME140.dll" not in text
    assert "needs libbar.dll, found in the wheel at demo/bin/libbar.dll" in text  # only os.add_dll_directory finds it


def test_dll_of_another_machine_breaks_the_windows_tag(tmp_path, win):
    files = {"demo/_ext.pyd": win["ext"], "demo/helper32.dll": win["x86"]}
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=WIN, files=files))
    assert audit.claims_hold is False and audit.overall_tag is None
    assert any("demo/helper32.dll (i386)" in p for p in audit.problems)


def test_malformed_pe_member_is_a_problem_and_the_rest_is_audited(tmp_path, win):
    files = {"demo/_ext.pyd": win["ext"], "demo/_bad.pyd": win["ext"][:200]}
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", tag=WIN, files=files))
    assert any(p.startswith("demo/_bad.pyd: not a readable PE file") for p in audit.problems)
    assert "nvcuda.dll" in audit.external_libs


def test_scan_json_and_text_for_a_macos_wheel(tmp_path, mac):
    files = dict(mac["files"], **{"demo/_new.so": mac["newer"]})
    wheel = make_wheel(tmp_path, "demo", "1.0", tag=MAC, files=files)
    run = lambda *a: subprocess.run([sys.executable, "-m", "wheelmeta", "scan", *a], capture_output=True, text=True)
    result = run("--json", str(wheel))
    assert result.returncode == 0, result.stderr
    [obj] = json.loads(result.stdout)
    assert obj["format"] == "macho" and obj["claims_hold"] is False and obj["min_os"] == "13.0"
    ext = next(b for b in obj["binaries"] if b["path"] == "demo/_ext.so")
    assert ext["slices"][0]["arch"] == "arm64" and "@rpath/liba.dylib" in ext["needed"]
    assert {"name": "@rpath/liba.dylib", "kind": "load", "class": "carried", "member": "demo/.dylibs/liba.dylib"} \
        in ext["libraries"]
    text = run("--members", str(wheel)).stdout
    assert "does NOT hold" in text and "external  /opt/homebrew/opt/libomp/lib/libomp.dylib" in text
    assert "m @loader_path/libgone.dylib (weak)" in text


def test_remote_windows_and_macos_wheels_are_read_through_range_requests(tmp_path, mac, win):
    from indexserver import IndexServer
    from wheelmeta import audit_wheel

    mac_wheel = make_wheel(tmp_path, "demo", "1.0", tag=MAC, files=mac["files"])
    win_wheel = make_wheel(tmp_path, "demo", "1.0", tag=WIN, files={"demo/_ext.pyd": win["ext"]})
    with IndexServer(tmp_path, ranges="ok") as server:
        remote_mac = audit_wheel(server.file_url(mac_wheel.name))
        remote_win = audit_wheel(server.file_url(win_wheel.name))
    assert remote_mac.carried_libs == audit_source(mac_wheel).carried_libs != {}
    assert remote_win.libraries["demo/_ext.pyd"] == audit_source(win_wheel).libraries["demo/_ext.pyd"]
