"""manylinux.audit: wheels holding real compiled libraries, audited from their bytes alone."""

from __future__ import annotations

import os
import threading
import zipfile

import pytest

from builders import make_wheel
from elfbuild import PYEXT_SOURCE, compile_so, hand_built_elf
from wheelmeta.manylinux import audit as audit_module
from wheelmeta.manylinux.audit import audit_source
from wheelmeta.sources import BytesSource

TAG_2014 = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"


@pytest.fixture
def built(tmp_path):
    """Compiled pieces: an extension that needs a carried library (through $ORIGIN/../demo.libs) and libm."""
    out = tmp_path / "build"
    carried = compile_so(out, "libcarried-1a2b3c4d.so.1", "int carried(void){return 1;}", soname="libcarried-1a2b3c4d.so.1")
    ext_source = PYEXT_SOURCE.format(module="_ext") + "#include <math.h>\nint carried(void);\ndouble g(double x){return cos(x) + carried();}\n"
    ext = compile_so(out, "_ext.cpython-311-x86_64-linux-gnu.so", ext_source, rpath=["$ORIGIN/../demo.libs"],
                     libs=["m", ":" + carried.name], lib_dirs=[out])
    outside = compile_so(tmp_path / "system", "liboutside.so.3", "int outside(void){return 3;}", soname="liboutside.so.3")
    needs_outside = compile_so(out, "_out.cpython-311-x86_64-linux-gnu.so", PYEXT_SOURCE.format(module="_out")
                               + "int outside(void);\nint h(void){return outside();}\n",
                               libs=[":" + outside.name], lib_dirs=[outside.parent])
    new_glibc = compile_so(out, "_new.cpython-311-x86_64-linux-gnu.so", PYEXT_SOURCE.format(module="_new")
                           + "#include <time.h>\nint k(void){struct timespec t; return clock_gettime(0, &t);}\n")
    return {p.name: p.read_bytes() for p in (carried, ext, needs_outside, new_glibc)}


def wheel(tmp_path, files, tag=TAG_2014, **kw):
    return make_wheel(tmp_path, "demo", "1.0", tag=tag, files=files, **kw)


def test_library_on_origin_rpath_is_carried_not_external(tmp_path, built):
    path = wheel(tmp_path, {
        "demo/_ext.cpython-311-x86_64-linux-gnu.so": built["_ext.cpython-311-x86_64-linux-gnu.so"],
        "demo.libs/libcarried-1a2b3c4d.so.1": built["libcarried-1a2b3c4d.so.1"],
        "demo/__init__.py": b"",
    })
    audit = audit_source(path)
    assert audit.kind == "elf"
    assert audit.carried_libs == {"libcarried-1a2b3c4d.so.1": "demo.libs/libcarried-1a2b3c4d.so.1"}
    assert audit.external_libs == {}
    assert "libm.so.6" in audit.policy_libs
    assert audit.claims_hold is True and audit.overall_tag == audit.sym_tag
    assert audit.problems == ()


def test_missing_library_is_external_with_the_members_that_need_it(tmp_path, built):
    path = wheel(tmp_path, {"demo/_out.cpython-311-x86_64-linux-gnu.so": built["_out.cpython-311-x86_64-linux-gnu.so"]})
    audit = audit_source(path)
    assert audit.external_libs == {"liboutside.so.3": ("demo/_out.cpython-311-x86_64-linux-gnu.so",)}
    assert audit.overall_tag == "linux_x86_64"
    assert audit.claims_hold is False
    assert any("liboutside.so.3" in p and "manylinux2014_x86_64" in p for p in audit.problems)


def test_claim_older_than_the_glibc_versions_needed_is_reported(tmp_path, built):
    path = wheel(tmp_path, {"demo/_new.cpython-311-x86_64-linux-gnu.so": built["_new.cpython-311-x86_64-linux-gnu.so"]},
                 tag="cp311-cp311-manylinux2010_x86_64")
    audit = audit_source(path)
    assert "GLIBC_2.17" in audit.versioned_symbols["libc.so.6"]
    assert audit.claims_hold is False
    assert any("manylinux2010_x86_64" in p and "GLIBC_2.17" in p for p in audit.problems)


def test_library_in_the_same_folder_without_rpath_is_carried_and_noted(tmp_path, built):
    ext = compile_so(tmp_path / "b", "_x.so", PYEXT_SOURCE.format(module="_x") + "int carried(void);\nint q(void){return carried();}\n",
                     libs=[":libcarried-1a2b3c4d.so.1"], lib_dirs=[tmp_path / "build"])
    path = wheel(tmp_path, {"demo/_x.so": ext.read_bytes(), "demo/libcarried-1a2b3c4d.so.1": built["libcarried-1a2b3c4d.so.1"]})
    audit = audit_source(path)
    assert audit.external_libs == {} and "libcarried-1a2b3c4d.so.1" in audit.carried_libs
    assert any("not on its RPATH/RUNPATH" in p for p in audit.problems)


def test_malformed_member_is_a_problem_and_the_rest_is_still_audited(tmp_path, built):
    good = built["_out.cpython-311-x86_64-linux-gnu.so"]
    path = wheel(tmp_path, {"demo/_out.cpython-311-x86_64-linux-gnu.so": good, "demo/_broken.so": good[:2000]})
    audit = audit_source(path)
    broken = next(f for f in audit.elf_files if f.path == "demo/_broken.so")
    assert broken.problems and any(p.startswith("demo/_broken.so:") for p in audit.problems)
    assert "liboutside.so.3" in audit.external_libs


def test_pure_wheel_is_reported_as_pure(tmp_path):
    audit = audit_source(make_wheel(tmp_path, "demo", "1.0", files={"demo/__init__.py": b"x = 1\n" * 20}))
    assert audit.kind == "pure" and audit.elf_files == () and audit.problems == ()


def test_ios_wheel_is_not_linux_and_not_read(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", tag="cp313-cp313-ios_13_0_arm64_iphoneos", files={"demo/_x.so": b"\xcf\xfa\xed\xfe" * 30})
    audit = audit_source(path)
    assert audit.kind == "non-linux" and audit.claims_hold is None


def test_stored_members_and_threads_give_the_same_audit(tmp_path, built):
    files = {"demo/" + name: data for name, data in built.items() if name.startswith("_")}
    deflated = audit_source(wheel(tmp_path / "d", files), workers=1)
    stored = audit_source(wheel(tmp_path / "s", files, compression=zipfile.ZIP_STORED), workers=2)
    strip = lambda a: (a.elf_files, a.external_libs, a.versioned_symbols, a.overall_tag)  # noqa: E731
    assert strip(deflated) == strip(stored)


def test_members_of_another_architecture_are_ignored_for_the_tag(tmp_path, built):
    foreign = hand_built_elf(machine="aarch64", needed=["libweird.so.9"])
    path = wheel(tmp_path, {"demo/_out.cpython-311-x86_64-linux-gnu.so": built["_out.cpython-311-x86_64-linux-gnu.so"],
                            "demo/arm/libarm.so": foreign})
    audit = audit_source(path)
    assert "libweird.so.9" not in audit.external_libs
    assert any("aarch64" in p for p in audit.problems)


def test_audit_reads_any_byte_source(tmp_path, built):
    path = wheel(tmp_path, {"demo/_out.cpython-311-x86_64-linux-gnu.so": built["_out.cpython-311-x86_64-linux-gnu.so"]})
    audit = audit_source(BytesSource(path.read_bytes(), name="remote/" + path.name))
    assert audit.wheel == "remote/" + path.name and "liboutside.so.3" in audit.external_libs


def test_progress_reports_compressed_bytes_up_to_the_total(tmp_path, built):
    path = wheel(tmp_path, {"demo/" + name: data for name, data in built.items()})
    calls = []
    audit_source(path, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 0
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_import_of_a_blacklisted_zlib_symbol_drops_every_manylinux_tag(tmp_path):
    # a stand-in libz.so.1 that exports zlib's internal zcalloc, which auditwheel's policies blacklist
    fake = compile_so(tmp_path / "fake", "libz.so.1", "void *zcalloc(void *o, unsigned n, unsigned s){return 0;}", soname="libz.so.1")
    source = PYEXT_SOURCE.format(module="_z") + "void *zcalloc(void *, unsigned, unsigned);\nvoid *z(void){return zcalloc(0, 1, 1);}\n"
    ext = compile_so(tmp_path / "b", "_z.cpython-311-x86_64-linux-gnu.so", source, libs=[":libz.so.1"], lib_dirs=[fake.parent])
    audit = audit_source(wheel(tmp_path, {"demo/_z.cpython-311-x86_64-linux-gnu.so": ext.read_bytes()}))
    facts = audit.elf_files[0]
    assert "libz.so.1" in facts.needed and facts.watched_symbols == ("zcalloc",)
    assert audit.external_libs == {} and audit.sym_tag != "linux_x86_64"
    assert audit.overall_tag == "linux_x86_64" and any("blacklisted" in p for p in audit.problems)


def test_wheel_tagged_for_both_libcs_with_a_static_binary_is_judged_as_glibc(tmp_path):
    static = hand_built_elf(machine="x86_64")  # no DT_NEEDED at all, like a static Rust binary
    path = wheel(tmp_path, {"demo-1.0.data/scripts/demo": static},
                 tag="py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64")
    audit = audit_source(path)
    assert audit.overall_tag == "manylinux_2_5_x86_64" and audit.claims_hold is True


# -- worker processes (wheels whose ELF members are large are read by forked workers, not threads) --------------


def _all_members(tmp_path, built):
    files = {f"demo/{name}": data for name, data in built.items() if not name.startswith("libcarried")}
    files["demo.libs/libcarried-1a2b3c4d.so.1"] = built["libcarried-1a2b3c4d.so.1"]
    return wheel(tmp_path, files)


def test_worker_processes_give_the_same_audit_as_one_thread(tmp_path, built, monkeypatch):
    path = _all_members(tmp_path, built)
    alone = audit_source(path, workers=1)
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    monkeypatch.setattr(audit_module, "_PROCESS_BYTES", 0)  # every wheel counts as large
    assert audit_source(path, workers=2) == alone
    assert forks, "the audit did not use worker processes"


def test_another_thread_in_the_process_keeps_the_audit_on_threads(tmp_path, built, monkeypatch):
    path = _all_members(tmp_path, built)
    alone = audit_source(path, workers=1)
    monkeypatch.setattr(audit_module, "_PROCESS_BYTES", 0)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked while another thread was running"))
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert audit_source(path, workers=2) == alone
    finally:
        release.set()
        other.join()


def test_a_worker_that_dies_leaves_its_members_to_threads(tmp_path, built, monkeypatch):
    path = _all_members(tmp_path, built)
    alone = audit_source(path, workers=1)
    monkeypatch.setattr(audit_module, "_PROCESS_BYTES", 0)
    monkeypatch.setattr(audit_module, "_facts_in_worker", _die_in_worker)
    assert audit_source(path, workers=2) == alone


def _die_in_worker(entry):
    os._exit(3)  # a worker killed mid-task, as the OOM killer would
