"""manylinux.audit: wheels holding real compiled libraries, audited from their bytes alone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import zipfile

import pytest

from builders import make_wheel
from elfbuild import PYEXT_SOURCE, compile_so, hand_built_elf
from multiarch import multiarch_wheel  # noqa: F401  (a fixture)
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


# -- the program loader, and libraries carried under another file name -------------------------------------------


def test_the_program_loader_is_the_systems_never_carried_or_external(tmp_path):
    # a library that calls into the loader itself (real DT_NEEDED ld-linux-x86-64.so.2), and a program (PT_INTERP)
    loader_user = compile_so(tmp_path / "b", "_ld.so", PYEXT_SOURCE.format(module="_ld") + "extern int _dl_find_object;\n"
                             "void *p(void){return &_dl_find_object;}\n", libs=[":ld-linux-x86-64.so.2"],
                             lib_dirs=["/lib64", "/lib/x86_64-linux-gnu"])
    program = compile_so(tmp_path / "b", "tool", "int main(void){return 0;}\n", executable=True)
    path = wheel(tmp_path, {"demo/_ld.so": loader_user.read_bytes(), "demo-1.0.data/scripts/tool": program.read_bytes()})
    audit = audit_source(path)
    assert "ld-linux-x86-64.so.2" in next(f for f in audit.elf_files if f.path == "demo/_ld.so").needed
    assert next(f for f in audit.elf_files if f.path.endswith("tool")).interpreter.endswith("ld-linux-x86-64.so.2")
    assert "ld-linux-x86-64.so.2" not in audit.carried_libs and "ld-linux-x86-64.so.2" not in audit.external_libs


HASHED_CUDART = "demo.libs/libcudart-1a2b3c4d.so.13"


def _cudart_wheel(tmp_path, carried_as: str):
    """An extension that needs ``libcudart.so.13`` on a RUNPATH to ``demo.libs``, where the wheel carries that
    library as ``carried_as`` (its SONAME always libcudart.so.13), and a member that loads it by that file name."""
    lib = compile_so(tmp_path / "sys", "libcudart.so.13", "int cudart(void){return 13;}", soname="libcudart.so.13")
    ext = compile_so(tmp_path / "b", "_c.so", PYEXT_SOURCE.format(module="_c") + "int cudart(void);\nint c(void){return cudart();}\n",
                     runpath=["$ORIGIN/../demo.libs"], libs=[":libcudart.so.13"], lib_dirs=[lib.parent])
    files = {"demo/_c.so": ext.read_bytes(), carried_as: lib.read_bytes()}
    return wheel(tmp_path, files)


def test_library_carried_only_under_a_hashed_name_does_not_meet_a_need_for_the_plain_name(tmp_path):
    audit = audit_source(_cudart_wheel(tmp_path, HASHED_CUDART))
    assert "libcudart.so.13" not in audit.carried_libs
    assert audit.external_libs == {"libcudart.so.13": ("demo/_c.so",)}  # as auditwheel's search by file name says
    assert audit.preloaded_libs == {"libcudart.so.13": HASHED_CUDART}
    assert any("loaded first" in p and HASHED_CUDART in p for p in audit.problems)


def test_the_same_library_under_its_plain_name_is_carried(tmp_path):
    audit = audit_source(_cudart_wheel(tmp_path, "demo.libs/libcudart.so.13"))
    assert audit.carried_libs == {"libcudart.so.13": "demo.libs/libcudart.so.13"}
    assert audit.external_libs == {} and audit.preloaded_libs == {}


def test_the_real_loader_agrees_hashed_copy_serves_only_once_loaded(tmp_path):
    path = _cudart_wheel(tmp_path, HASHED_CUDART)
    root = tmp_path / "installed"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(root)
    check = ("import ctypes, sys\n"  # in child processes: a library once loaded stays loaded
             "if sys.argv[2] == 'preload': ctypes.CDLL(sys.argv[3])\n"
             "ctypes.CDLL(sys.argv[1])\n")
    alone = subprocess.run([sys.executable, "-c", check, str(root / "demo/_c.so"), "alone"], capture_output=True, text=True, check=False)
    assert alone.returncode != 0 and "cudart" in alone.stderr
    preloaded = subprocess.run([sys.executable, "-c", check, str(root / "demo/_c.so"), "preload", str(root / HASHED_CUDART)],
                               capture_output=True, text=True)
    assert preloaded.returncode == 0, preloaded.stderr


# -- a pure wheel carrying binaries for several architectures ------------------------------------------------------

def test_several_architectures_are_each_judged_on_their_own_members(multiarch_wheel):
    audit = audit_source(multiarch_wheel)
    assert audit.arch is None and audit.overall_tag is None
    assert sorted(audit.architectures) == ["aarch64", "i686", "x86_64"]
    per = audit.architectures
    assert per["aarch64"].external_libs == {"libarmonly.so.2": ("solver/bin/aarch64/libsolver.so",)}
    assert per["i686"].external_libs == {"libi686only.so.3": ("solver/bin/i686/libsolver.so",)}
    assert per["x86_64"].external_libs == {} and per["x86_64"].overall_tag.startswith("manylinux")
    assert per["aarch64"].overall_tag == "linux_aarch64" and per["i686"].overall_tag == "linux_i686"
    assert set(audit.external_libs) == {"libarmonly.so.2", "libi686only.so.3"}  # what all of them need
    assert not any("ignored, built for" in p for p in audit.problems)


def test_the_targets_architecture_picks_its_verdict(multiarch_wheel):
    from wheelmeta.manylinux.audit import select_architecture

    audit = select_architecture(audit_source(multiarch_wheel), "x86_64")
    assert audit.arch == "x86_64" and audit.external_libs == {} and audit.overall_tag.startswith("manylinux")
    assert [f.path for f in audit.elf_files] == ["solver/bin/x86_64/libsolver.so"]
    assert sorted(audit.architectures) == ["aarch64", "i686", "x86_64"]


def test_a_target_architecture_the_wheel_has_no_binary_for_is_said(multiarch_wheel):
    from wheelmeta.manylinux.audit import select_architecture

    audit = select_architecture(audit_source(multiarch_wheel), "ppc64le")
    assert audit.overall_tag is None and audit.external_libs == {}
    assert any("no ELF file for ppc64le" in p for p in audit.problems)


# -- an interrupted audit stops reading: the queue is dropped, not drained ------------------------------------------


def _many_members(tmp_path, built, n=300):
    data = built["_out.cpython-311-x86_64-linux-gnu.so"]
    return wheel(tmp_path, {f"demo/_m{i}.so": data for i in range(n)})


def _interrupt_at_first_member(done, total):
    raise KeyboardInterrupt


def test_interrupted_threads_leave_the_queued_members_unread(tmp_path, built, monkeypatch):
    path = _many_members(tmp_path, built)
    read = []
    real = audit_module._member_facts
    monkeypatch.setattr(audit_module, "_member_facts", lambda *a: read.append(1) or real(*a))
    monkeypatch.setattr(audit_module, "_PROCESS_BYTES", 1 << 62)  # threads, not processes
    with pytest.raises(KeyboardInterrupt):
        audit_source(path, workers=2, progress=_interrupt_at_first_member)
    assert len(read) < 300


_worker_reads = {}  # the forked workers inherit it: a shared counter and the real reader


def _counting_facts_in_worker(entry):
    # module level, so the pool can pickle it by name; the workers count in shared memory
    with _worker_reads["count"].get_lock():
        _worker_reads["count"].value += 1
    return _worker_reads["real"](entry)


def test_interrupted_worker_processes_leave_the_queued_members_unread(tmp_path, built, monkeypatch):
    import multiprocessing

    path = _many_members(tmp_path, built)
    _worker_reads.update(count=multiprocessing.get_context("fork").Value("i", 0), real=audit_module._facts_in_worker)
    monkeypatch.setattr(audit_module, "_facts_in_worker", _counting_facts_in_worker)
    monkeypatch.setattr(audit_module, "_PROCESS_BYTES", 0)
    with pytest.raises(KeyboardInterrupt):
        audit_source(path, workers=2, progress=_interrupt_at_first_member)
    assert _worker_reads["count"].value < 300
