"""Real Mach-O and PE files for the tests, built on Linux with LLVM: clang emits the objects, ld64.lld links
dylibs (against a text stub of libSystem, as Apple's SDK does), llvm-lipo makes fat files, lld-link links DLLs
against import libraries that llvm-dlltool makes from .def files. Each builder skips the test with the reason when
a tool is missing (.ci/run installs clang, lld and llvm).

ld64.lld links no i386 (32-bit) Mach-O, so :func:`i386_dylib` writes one from macholib's own structures and the
tests read it back with macholib before trusting it.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Tuple

import pytest

LIBSYSTEM_TBD = """--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/libSystem.B.dylib'
current-version: 1311
exports:
  - targets:     [ x86_64-macos, arm64-macos ]
    symbols:     [ dyld_stub_binder ]
...
"""
_TRIPLES = {"arm64": "arm64-apple-macos{v}", "x86_64": "x86_64-apple-macos{v}"}
_PE_TARGETS = {"amd64": ("x86_64-pc-windows-msvc", "x64", "i386:x86-64"), "i386": ("i686-pc-windows-msvc", "x86", "i386"),
               "arm64": ("aarch64-pc-windows-msvc", "arm64", "arm64")}


def tool(name: str) -> str:
    """The path of an LLVM tool, on PATH or in Debian's versioned LLVM folders; skips the test when absent."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/llvm-*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.skip(f"{name} is not installed (.ci/run installs clang, lld and llvm)")
    return found


def _run(args: Sequence[str], cwd: Path) -> None:
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stderr}")


def dylib(
    folder: Path, name: str, source: str = "int f(void) { return 1; }\n", *, arch: str = "arm64",
    min_os: str = "11.0", install_name: Optional[str] = None, links: Iterable[Tuple[Path, str]] = (),
    rpaths: Iterable[str] = (), bundle: bool = False,
) -> Path:
    """Compile and link a dylib (or a bundle, as Python extensions are); ``links`` are (dylib, kind) with kind
    "load", "weak" or "reexport". It links against libSystem, as every macOS binary does."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.c").write_text(source)
    (folder / "libSystem.tbd").write_text(LIBSYSTEM_TBD)
    _run([tool("clang"), "-target", _TRIPLES[arch].format(v=min_os), "-c", f"{name}.c", "-o", f"{name}.o"], folder)
    out = folder / f"{name}.{arch}.{min_os}.bin"
    args = [tool("ld64.lld"), "-arch", arch, "-platform_version", "macos", min_os, min_os, f"{name}.o"]
    args += ["-bundle"] if bundle else ["-dylib", "-install_name", install_name or f"@rpath/{name}.dylib"]
    flags = {"load": [], "weak": ["-weak_library"], "reexport": ["-reexport_library"]}
    for path, kind in links:
        args += flags[kind] + [str(path)]
    for rpath in rpaths:
        args += ["-rpath", rpath]
    args += ["libSystem.tbd", "-undefined", "dynamic_lookup", "-o", str(out)]
    _run(args, folder)
    return out


def fat(folder: Path, name: str, *thin: Path) -> Path:
    """A universal (fat) file of the thin files given, made by llvm-lipo."""
    out = folder / name
    _run([tool("llvm-lipo"), "-create", *map(str, thin), "-output", str(out)], folder)
    return out


def i386_dylib(install_name: str, loads: Sequence[str], min_os: Tuple[int, int] = (10, 6)) -> bytes:
    """A 32-bit (i386, little-endian) dylib's header and load commands, written with macholib's structures."""
    from macholib import mach_o

    def dylib_cmd(cmd: int, name: str) -> bytes:
        raw = name.encode() + b"\0"
        raw += b"\0" * (-len(raw) % 4)
        body = mach_o.dylib_command(_endian_="<", name=24, timestamp=2, current_version=0x10000,
                                    compatibility_version=0x10000)
        return mach_o.load_command(_endian_="<", cmd=cmd, cmdsize=24 + len(raw)).to_str() + body.to_str() + raw

    version = (min_os[0] << 16) | (min_os[1] << 8)
    commands = [dylib_cmd(mach_o.LC_ID_DYLIB, install_name)] + [dylib_cmd(mach_o.LC_LOAD_DYLIB, n) for n in loads]
    commands.append(mach_o.load_command(_endian_="<", cmd=mach_o.LC_VERSION_MIN_MACOSX, cmdsize=16).to_str()
                    + mach_o.version_min_command(_endian_="<", version=version, sdk=version).to_str())
    body = b"".join(commands)
    header = mach_o.mach_header(_endian_="<", magic=mach_o.MH_MAGIC, cputype=7, cpusubtype=3,
                                filetype=mach_o.MH_DYLIB, ncmds=len(commands), sizeofcmds=len(body), flags=0)
    return header.to_str() + body


def dll(
    folder: Path, name: str, *, machine: str = "amd64", imports: Dict[str, Sequence[str]] = None,
    delay: Dict[str, Sequence[str]] = None, exe: bool = False,
) -> Path:
    """A DLL (or .exe) whose import directory names ``imports`` and whose delay-load directory names ``delay``
    (DLL name -> functions it calls from there)."""
    imports, delay = dict(imports or {}), dict(delay or {})
    folder.mkdir(parents=True, exist_ok=True)
    triple, link_machine, dlltool_machine = _PE_TARGETS[machine]
    calls = [(fn, dll_name) for dll_name, fns in {**imports, **delay}.items() for fn in fns]
    source = "".join(f"__declspec(dllimport) int {fn}(int);\n" for fn, _ in calls)
    source += "__declspec(dllexport) int entry(int x) { return x" + "".join(f" + {fn}(x)" for fn, _ in calls) + "; }\n"
    source += "int mainCRTStartup(void) { return 0; }\n" if exe else ""
    source += "void *__delayLoadHelper2(void *d, void *f) { return 0; }\n"  # MSVC's delayimp.lib, for the linker
    (folder / f"{name}.c").write_text(source)
    _run([tool("clang"), "-target", triple, "-c", f"{name}.c", "-o", f"{name}.obj"], folder)
    libs = []
    for dll_name, fns in {**imports, **delay}.items():
        stem = dll_name.rsplit(".", 1)[0]
        (folder / f"{stem}.def").write_text(f"LIBRARY {dll_name}\nEXPORTS\n" + "".join(f"  {fn}\n" for fn in fns))
        _run([tool("llvm-dlltool"), "-m", dlltool_machine, "-d", f"{stem}.def", "-l", f"{stem}.lib"], folder)
        libs.append(f"{stem}.lib")
    out = folder / (f"{name}.exe" if exe else f"{name}.dll")
    args = [tool("lld-link"), "/nodefaultlib", f"/machine:{link_machine}", f"/out:{out}", f"{name}.obj", *libs]
    args += ["/entry:mainCRTStartup", "/subsystem:console"] if exe else ["/dll", "/noentry"]
    args += [f"/delayload:{d}" for d in delay]
    _run(args, folder)
    return out


def mutations(data: bytes, seed: int, rounds: int, head: int = 4096):
    """Fixed-seed mutants of ``data`` for a short fuzz round: flipped bits, 32-bit fields set to 0, 1 or all ones,
    and truncations, aimed at the first ``head`` bytes where the headers and load commands or import tables lie."""
    import random

    rng = random.Random(seed)
    for _ in range(rounds):
        mutant = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(min(head, len(mutant) - 4))
            how = rng.random()
            if how < 0.4:
                mutant[at] ^= 1 << rng.randrange(8)
            elif how < 0.9:
                mutant[at : at + 4] = rng.choice([b"\0\0\0\0", b"\1\0\0\0", b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f"])
            else:
                del mutant[rng.randrange(len(mutant)) :]
                break
        yield bytes(mutant)
