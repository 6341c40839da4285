"""`wheelmeta scan`'s worker processes die with it: SIGTERM, Ctrl-C and even SIGKILL of the parent leave none behind.

The scan runs as a real subprocess on a real wheel with thousands of compiled ELF members, with
``WHEELMETA_PROCESS_BYTES=0`` so that even this wheel is read by forked workers (the path big wheels take).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from builders import make_wheel
from elfbuild import PYEXT_SOURCE, compile_so

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "fork"),
                                reason="worker processes are forked on Linux only")

MEMBERS = 4000


@pytest.fixture(scope="module")
def many_members_wheel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workers")
    ext = compile_so(folder / "b", "_m.so", PYEXT_SOURCE.format(module="_m") + "#include <math.h>\ndouble g(double x){return cos(x);}\n",
                     libs=["m"]).read_bytes()
    files = {f"demo/_m{i}.cpython-311-x86_64-linux-gnu.so": ext for i in range(MEMBERS)}
    return make_wheel(folder, "demo", "1.0", tag="cp311-cp311-manylinux2014_x86_64", files=files)


def _alive_children(pid: int) -> List[int]:
    """Processes whose parent is ``pid`` and that are not zombies (a zombie has finished dying)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_scan_with_workers(wheel: Path):
    """A running scan and the pids of its workers, once they exist; skip if this machine finished first."""
    env = dict(os.environ, WHEELMETA_PROCESS_BYTES="0")
    proc = subprocess.Popen([sys.executable, "-m", "wheelmeta", "scan", "--json", str(wheel)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        workers = _alive_children(proc.pid)
        if len(workers) >= 2:
            time.sleep(0.2)  # let them pick up members
            return proc, _alive_children(proc.pid)
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    pytest.skip("the scan ended before its workers could be seen")


def _wait_gone(pids: List[int], seconds: float = 30) -> List[int]:
    """The pids still alive after waiting up to ``seconds`` (killed processes need a moment to go)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_sigterm_kills_the_workers_and_exits_143(many_members_wheel):
    proc, workers = _start_scan_with_workers(many_members_wheel)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (143, -signal.SIGTERM), stderr
    assert _wait_gone(workers) == []


def test_ctrl_c_kills_the_workers_and_exits_130_without_hanging(many_members_wheel):
    proc, workers = _start_scan_with_workers(many_members_wheel)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)  # a hang fails here
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert _wait_gone(workers) == []


def test_workers_die_even_when_the_parent_is_killed_outright(many_members_wheel):
    proc, workers = _start_scan_with_workers(many_members_wheel)
    proc.kill()  # no cleanup code of the parent runs: only the parent-death signal can end them
    proc.wait(timeout=60)
    assert _wait_gone(workers) == []
