"""The README's library example runs as written, against a real index on 127.0.0.1 named by pip's configuration."""

from __future__ import annotations

import os
import re
from pathlib import Path

from builders import make_wheel
from indexserver import IndexServer

README = Path(__file__).parent.parent / "README.md"


def _library_example() -> str:
    section = README.read_text(encoding="utf-8").split("## As a library", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_library_example_runs(tmp_path, monkeypatch):
    """Every file the example names exists here, and tensorflow 2.1.0 has the wheels it had on the public index:
    Python 3.5 to 3.7 only, so a target of another Python finds none (the example once used a 3.12 target)."""
    make_wheel(tmp_path / "dist", "requests", "2.32.3", requires=["PySocks!=1.5.7,>=1.5.6; extra == 'socks'"],
               extras=["socks"])
    make_wheel(tmp_path, "torch", "2.14.1", tag="cp311-cp311-manylinux_2_28_x86_64")
    for python in ("35", "36", "37"):
        abi = f"cp{python}-cp{python}m"
        make_wheel(tmp_path / "index", "tensorflow", "2.1.0", tag=f"{abi}-manylinux2010_x86_64")
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    with IndexServer(tmp_path / "index") as server:
        (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = {server.index_url}\n")
        monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "pip.conf"))
        namespace: dict = {}
        exec(compile(_library_example(), str(README), "exec"), namespace)
    assert namespace["choice"].file.filename == "tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"
    assert [r.name for r in namespace["deps"]] == ["PySocks"]
