"""Real ELF files for the manylinux tests: shared objects compiled with ``cc``, and a few hand-built ones.

What is real and what is not, honestly:
- :func:`compile_so` runs the system C compiler (``cc -shared -fPIC``) and the system linker, so DT_NEEDED,
  DT_SONAME, DT_RPATH/DT_RUNPATH and ``.gnu.version_r`` are exactly what a real toolchain writes. Linking
  against libm/libz gives real glibc/zlib version needs. ``m32=True`` builds a real 32-bit object with
  ``-m32 -nostdlib`` (this machine has no 32-bit libc, so 32-bit objects link only against other 32-bit test
  libraries, whose version needs come from a real version script).
- No big-endian toolchain is installed, so :func:`hand_built_elf` writes a minimal but well-formed shared object
  (ELF header, PT_LOAD, PT_DYNAMIC, .dynstr, .gnu.version_r) with ``struct``, for any class and byte order.
  ``readelf`` accepts it; the tests check it against ``readelf`` where it is installed.
- Malformed files are real compiled objects with bytes patched at offsets pyelftools finds (:func:`patch`).

    >>> lib = compile_so(tmp_path, "libdemo.so", "int f(void){return 1;}", soname="libdemo.so.1")  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Union

import pytest

__all__ = ["require_cc", "compile_so", "hand_built_elf", "patch", "PYEXT_SOURCE"]

PYEXT_SOURCE = "void *PyInit_{module}(void) {{ return 0; }}\n"


def require_cc(m32: bool = False) -> str:
    """The C compiler's path, or skip the test (with the reason) when there is none."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("cc (a C compiler) not installed")
    return cc


def compile_so(
    folder: Union[str, Path],
    filename: str,
    source: str,
    *,
    soname: Optional[str] = None,
    rpath: Sequence[str] = (),
    runpath: Sequence[str] = (),
    libs: Iterable[str] = (),
    lib_dirs: Iterable[Union[str, Path]] = (),
    version_script: Optional[str] = None,
    m32: bool = False,
    extra: Iterable[str] = (),
    executable: bool = False,
) -> Path:
    """Compile ``source`` (C) into the shared object ``folder/filename`` and return its path.

    ``libs`` are ``-l`` names (``"m"``, ``"z"``, or a test library found through ``lib_dirs``); ``rpath`` entries
    become DT_RPATH (old dtags) and ``runpath`` entries DT_RUNPATH (new dtags); use ``$ORIGIN`` literally.
    ``executable=True`` links a program instead (``source`` needs a ``main``): it gets a PT_INTERP.
    """
    cc = require_cc()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / (filename.replace("/", "_") + ".c")
    src.write_text(source)
    out = folder / filename
    cmd = [cc, "-fPIC", "-o", str(out), str(src)] if executable else [cc, "-shared", "-fPIC", "-o", str(out), str(src)]
    if m32:
        cmd[1:1] = ["-m32", "-nostdlib"]
    if soname:
        cmd.append(f"-Wl,-soname,{soname}")
    if rpath:
        cmd += ["-Wl,--disable-new-dtags", "-Wl,-rpath," + ":".join(rpath)]
    if runpath:
        cmd += ["-Wl,--enable-new-dtags", "-Wl,-rpath," + ":".join(runpath)]
    if version_script:
        script = folder / (filename + ".map")
        script.write_text(version_script)
        cmd.append(f"-Wl,--version-script={script}")
    cmd += [f"-L{d}" for d in lib_dirs]
    cmd += ["-Wl,--no-as-needed"] + [f"-l{lib}" for lib in libs]
    cmd += list(extra)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        if m32:
            pytest.skip(f"cc -m32 cannot build here: {result.stderr.strip().splitlines()[-1:]}")
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return out


def patch(path: Union[str, Path], offset: int, fmt: str, *values: int) -> None:
    """Overwrite ``struct.pack(fmt, *values)`` at ``offset`` of the file ``path``."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, *values))


_MACHINE = {"x86_64": 62, "i686": 3, "aarch64": 183, "ppc64le": 21, "ppc64": 21, "s390x": 22, "armv7l": 40}


def hand_built_elf(
    *,
    elf_class: int = 64,
    little: bool = True,
    machine: str = "s390x",
    needed: Sequence[str] = (),
    soname: Optional[str] = None,
    runpath: Optional[str] = None,
    verneed: Optional[Dict[str, Sequence[str]]] = None,
) -> bytes:
    """A minimal shared object: header, two program headers (PT_LOAD over the whole file, PT_DYNAMIC), dynstr,
    verneed and dynamic entries, laid out like ld does (strings and versions before the dynamic segment)."""
    e = "<" if little else ">"
    word = "Q" if elf_class == 64 else "I"
    sword = "q" if elf_class == 64 else "i"
    verneed = dict(verneed or {})
    strings = bytearray(b"\0")
    offsets: Dict[str, int] = {}

    def add(text: str) -> int:
        if text not in offsets:
            offsets[text] = len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    for name in list(needed) + list(verneed) + [v for vs in verneed.values() for v in vs]:
        add(name)
    for text in (soname, runpath):
        if text:
            add(text)
    ehsize, phentsize = (64, 56) if elf_class == 64 else (52, 32)
    strtab_off = ehsize + 2 * phentsize
    verneed_off = (strtab_off + len(strings) + 7) // 8 * 8
    ver = bytearray()
    libs = list(verneed.items())
    for i, (lib, versions) in enumerate(libs):
        next_need = 16 + 16 * len(versions) if i + 1 < len(libs) else 0
        ver += struct.pack(e + "HHIII", 1, len(versions), offsets[lib], 16, next_need)
        for j, v in enumerate(versions):
            ver += struct.pack(e + "IHHII", 0, 0, 2 + j, offsets[v], 16 if j + 1 < len(versions) else 0)
    dyn_off = (verneed_off + len(ver) + 7) // 8 * 8
    entries = [(1, offsets[n]) for n in needed]
    if soname:
        entries.append((14, offsets[soname]))
    if runpath:
        entries.append((29, offsets[runpath]))
    entries += [(5, strtab_off), (10, len(strings))]
    if libs:
        entries += [(0x6FFFFFFE, verneed_off), (0x6FFFFFFF, len(libs))]
    entries.append((0, 0))
    dyn = b"".join(struct.pack(e + sword + word, t, v) for t, v in entries)
    total = dyn_off + len(dyn)
    ident = b"\x7fELF" + bytes([elf_class // 32, 1 if little else 2, 1, 0]) + bytes(8)
    if elf_class == 64:
        header = ident + struct.pack(e + "HHIQQQIHHHHHH", 3, _MACHINE[machine], 1, 0, ehsize, 0, 0, ehsize, phentsize, 2, 64, 0, 0)
        load = struct.pack(e + "IIQQQQQQ", 1, 5, 0, 0, 0, total, total, 0x1000)
        dynamic = struct.pack(e + "IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, len(dyn), len(dyn), 8)
    else:
        header = ident + struct.pack(e + "HHIIIIIHHHHHH", 3, _MACHINE[machine], 1, 0, ehsize, 0, 0, ehsize, phentsize, 2, 40, 0, 0)
        load = struct.pack(e + "IIIIIIII", 1, 0, 0, 0, total, total, 5, 0x1000)
        dynamic = struct.pack(e + "IIIIIIII", 2, dyn_off, dyn_off, dyn_off, len(dyn), len(dyn), 6, 4)
    out = bytearray(header + load + dynamic + strings)
    out += bytes(verneed_off - len(out)) + ver
    out += bytes(dyn_off - len(out)) + dyn
    return bytes(out)
