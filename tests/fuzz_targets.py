"""The fuzz registry: every parser of outside bytes, with real seed inputs and the way a user's file reaches it.

See fuzzing.py for the harness and for how to add a target. Seeds are the fixtures the tests build (builders.py,
elfbuild.py) and, when the corpus is present, a few small real wheels from it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import tarfile
import zipfile
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import builders
import fuzz_crawl
from fuzzing import Field, FuzzTarget, _tar_fields, elf_fields, zip_fields

CORPUS = Path("/opt/pypi/files")
#: small real wheels (pure, and one with ELF members) used as extra seeds when the corpus is present
CORPUS_WHEELS = ("StrEnum-0.4.15-py3-none-any.whl", "mccabe-0.7.0-py2.py3-none-any.whl",
                 "glfw-2.10.2-py2.py3-none-manylinux2014_x86_64.whl")
DEFAULT_WHEEL_NAME = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
#: more real wheels for the wheel targets' seeds (benchmarks/fuzz.py --corpus-wheels fills it before the first run)
EXTRA_CORPUS_WHEELS: List[Path] = []


# ---------------------------------------------------------------------------------------------------------------------
# running the library the way a user's file reaches it


def _each(*calls: Callable[[], object]) -> None:
    """Run every call; a WheelmetaError of one does not stop the others, and the first is raised at the end."""
    from wheelmeta.errors import WheelmetaError

    first: Optional[WheelmetaError] = None
    for call in calls:
        try:
            call()
        except WheelmetaError as exc:
            first = first or exc
    if first is not None:
        raise first


def _host_like_target():
    from wheelmeta.target import Target

    return Target.from_options(python_version="3.11", platforms=["manylinux_2_17_x86_64"])


def _metadata_and_markers(read: Callable[[], object]) -> None:
    """Read metadata, then evaluate its markers for a target with every extra it provides."""
    metadata = read()
    metadata.for_target(_host_like_target(), extras=metadata.provides_extra)  # type: ignore[attr-defined]
    metadata.to_json()  # type: ignore[attr-defined]


def _named(data: bytes, default: str) -> Tuple[str, bytes]:
    """Inputs of file targets are ``file name + "\\n" + bytes``: the name is fuzzed too (scan reads tags from it)."""
    name, sep, body = data.partition(b"\n")
    text = name.decode("utf-8", "replace")
    if not sep or not text or "/" in text or "\0" in text or text in (".", "..") or len(name) > 200:
        return default, data if not sep else body
    return text, body


def _audit_and_classify(path: Path) -> None:
    from wheelmeta.manylinux.audit import audit_source
    from wheelmeta.manylinux.report import audit_to_json, audit_to_text
    from wheelmeta.patchelf_nix.classify import nix_inputs
    from wheelmeta.patchelf_nix.sonames import SonameMap

    audit = audit_source(str(path), workers=1)
    audit_to_json(audit)
    audit_to_text(audit)
    if audit.kind == "elf":
        nix_inputs(audit, SonameMap.load(environ={}))


def run_wheel(data: bytes, scratch: Path) -> None:
    from wheelmeta.wheels.reader import read_wheel_metadata, top_level_modules

    name, body = _named(data, DEFAULT_WHEEL_NAME)
    path = scratch / name
    path.write_bytes(body)
    _each(lambda: _metadata_and_markers(lambda: read_wheel_metadata(path)),
          lambda: top_level_modules(path), lambda: _audit_and_classify(path))


def run_wheel_cli(data: bytes, scratch: Path) -> int:
    """``wheelmeta scan`` and ``wheelmeta nix`` in-process: each must exit 0 or 1 (never 2, the usage code)."""
    from wheelmeta.cli import main

    name, body = _named(data, DEFAULT_WHEEL_NAME)
    path = scratch / name
    path.write_bytes(body)
    os.environ.pop("WHEELMETA_SONAME_MAP", None)
    codes = [main(["-q", "scan", "--json", str(path)]), main(["-q", "scan", "--members", str(path)]),
             main(["-q", "nix", str(path)])]
    return next((c for c in codes if c not in (0, 1)), max(codes))


def run_wheel_filename(data: bytes, scratch: Path) -> Optional[int]:
    """A valid wheel under a fuzzed file name: the parser, the tags' target, the audit, and the CLI."""
    from wheelmeta.patchelf_nix.expression import default_target
    from wheelmeta.wheels.filename import parse_wheel_filename

    name = data.decode("utf-8", "surrogateescape")
    _each(lambda: parse_wheel_filename(name), lambda: default_target(name))
    if not name.endswith(".whl") or "/" in name or "\0" in name or len(name.encode("utf-8", "surrogateescape")) > 250:
        return None
    try:
        path = builders.make_wheel(scratch, files={"demo/__init__.py": b""}, filename=name)
    except (OSError, UnicodeError, ValueError):  # a name the file system refuses is not the library's input
        return None
    return run_wheel_cli(name.encode("utf-8", "surrogateescape") + b"\n" + path.read_bytes(), scratch)


_SDIST_WANTED = frozenset({"PKG-INFO", "pyproject.toml", "setup.cfg", "setup.py", "requirements.txt"})


def run_sdist(suffix: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, scratch: Path) -> None:
        from wheelmeta.sdist.archive import extract_tree, open_sdist
        from wheelmeta.sdist.chain import read_sdist_metadata

        path = scratch / f"demo-1.0{suffix}"
        path.write_bytes(data)
        files = open_sdist(path).read_files(lambda rel: rel in _SDIST_WANTED)
        calls = [lambda: extract_tree(path, scratch)]
        if "setup.py" not in files.names:  # no sandbox runs under the fuzzer: the static chain only
            calls.append(lambda: _metadata_and_markers(lambda: read_sdist_metadata(path)))
        _each(*calls)

    return run


def run_sdist_cli(data: bytes, scratch: Path) -> Optional[int]:
    """``wheelmeta metadata --json`` and the text output with target options, in-process: exit 0 or 1 only."""
    from wheelmeta.cli import main
    from wheelmeta.errors import WheelmetaError
    from wheelmeta.sdist.archive import open_sdist

    path = scratch / "demo-1.0.tar.gz"
    path.write_bytes(data)
    try:
        if "setup.py" in open_sdist(path).read_files(lambda rel: False).names:
            return None  # no sandbox runs under the fuzzer
    except WheelmetaError:
        pass  # the CLI must say it too, on one line
    codes = [main(["-q", "metadata", "--json", str(path)]),
             main(["-q", "metadata", "--python-version", "3.8", "--platform", "win_amd64", "--extras", "socks",
                   str(path)])]
    return next((c for c in codes if c not in (0, 1)), max(codes))


def _sdist_with(scratch: Path, files: dict) -> Path:
    return builders.make_sdist(scratch, files=files, fmt="tar")


def run_pyproject(data: bytes, scratch: Path) -> None:
    from wheelmeta.sdist.chain import read_sdist_metadata

    path = _sdist_with(scratch, {"PKG-INFO": builders.metadata_text("demo", "1.0"), "pyproject.toml": data,
                                 "requirements.txt": "requests>=2\n"})
    _metadata_and_markers(lambda: read_sdist_metadata(path))


def run_setup_cfg(data: bytes, scratch: Path) -> None:
    from wheelmeta.sdist.chain import read_sdist_metadata

    path = _sdist_with(scratch, {"PKG-INFO": builders.metadata_text("demo", "1.0"), "setup.cfg": data,
                                 "requirements.txt": "requests>=2\n"})
    _metadata_and_markers(lambda: read_sdist_metadata(path))


def run_metadata(data: bytes, scratch: Path) -> None:
    from wheelmeta.sdist.static import pkg_info_metadata
    from wheelmeta.wheels.metadata import parse_metadata

    def pkg_info():
        answer, _ = pkg_info_metadata(data, source="demo-1.0.tar.gz")
        if answer is not None:
            _metadata_and_markers(lambda: answer)

    _each(lambda: _metadata_and_markers(lambda: parse_metadata(data, source="demo.whl")), pkg_info)


def run_wheel_files(data: bytes, scratch: Path) -> None:
    from wheelmeta.wheels.wheelfile import parse_record, parse_wheel_info

    _each(lambda: parse_wheel_info(data, "demo.whl"), lambda: parse_record(data, "demo.whl"))


def run_elf(data: bytes, scratch: Path) -> None:
    """The ELF reader on the bytes (streamed in chunks, as from a zip member), then the whole audit of a wheel
    that carries them."""
    from wheelmeta.manylinux.audit import _imports_to_watch
    from wheelmeta.manylinux.elf import read_elf_facts

    def chunks():
        return (data[i : i + 4096] for i in range(0, len(data), 4096))

    read_elf_facts(chunks(), "demo/_demo.so", size=len(data), reopen=chunks, watch_symbols=_imports_to_watch)
    path = scratch / DEFAULT_WHEEL_NAME
    path.write_bytes(builders.zip_bytes({"demo/_demo.so": data, "demo-1.0.dist-info/METADATA":
                                         builders.metadata_text("demo", "1.0").encode()}, zipfile.ZIP_STORED))
    _audit_and_classify(path)


def run_soname_map(data: bytes, scratch: Path) -> None:
    from wheelmeta.patchelf_nix.sonames import SonameMap

    path = scratch / "map.toml"
    path.write_bytes(data)
    soname_map = SonameMap.load(path, environ={})
    soname_map.lookup("libfoo.so.1")
    soname_map.lookup("libz.so.1")


def run_index_page(data: bytes, scratch: Path) -> None:
    from wheelmeta.index.simple import parse_html_page, parse_json_page

    text = data.decode("utf-8", "replace")
    _each(lambda: parse_html_page(text, "https://index.invalid/simple/demo/", project="demo"),
          lambda: parse_json_page(text, "https://index.invalid/simple/demo/", project="demo"))


def _chunks(data: bytes):
    return (data[i : i + 4096] for i in range(0, len(data), 4096))


def _binary_wheel(scratch: Path, tag: str, member: str, data: bytes) -> Path:
    path = scratch / f"demo-1.0-{tag}.whl"
    path.write_bytes(builders.zip_bytes({member: data, "demo-1.0.dist-info/METADATA":
                                         builders.metadata_text("demo", "1.0").encode()}, zipfile.ZIP_STORED))
    return path


def run_macho(data: bytes, scratch: Path) -> None:
    """The Mach-O reader on the bytes as a streamed member, then the audit of a macOS wheel carrying them."""
    from wheelmeta.binaries.macho import read_macho_facts
    from wheelmeta.extract import audit_wheel

    read_macho_facts(_chunks(data), "demo/_demo.so", len(data))
    audit_wheel(str(_binary_wheel(scratch, "cp311-cp311-macosx_11_0_universal2", "demo/_demo.so", data)))


def run_pe(data: bytes, scratch: Path) -> None:
    """The PE reader on the bytes as a streamed member, then the audit of a Windows wheel carrying them."""
    from wheelmeta.binaries.pe import read_pe_facts
    from wheelmeta.extract import audit_wheel

    read_pe_facts(lambda: _chunks(data), "demo/_demo.pyd", len(data))
    audit_wheel(str(_binary_wheel(scratch, "cp311-cp311-win_amd64", "demo/_demo.pyd", data)))


def run_pylock(data: bytes, scratch: Path) -> None:
    """A pylock.toml as `wheelmeta env` reads it, and the environment written from it."""
    from wheelmeta.patchelf_nix.environment import environment_expression, read_pylock

    path = scratch / "pylock.toml"
    path.write_bytes(data)
    environment_expression(read_pylock(path), lock_path=str(path), relative_to=str(scratch))


def run_lock_inputs(data: bytes, scratch: Path) -> None:
    """A requirements file as `wheelmeta lock -r` reads it (includes, constraints, index lines, hashes)."""
    from wheelmeta.resolve.inputs import LockInputs

    path = scratch / "requirements.txt"
    path.write_bytes(data)
    LockInputs.from_arguments([], [str(path)])


def run_providers_file(data: bytes, scratch: Path) -> None:
    """A providers table (`--provider FILE`) as `choose` and `lock` read it, then asked for a package."""
    from wheelmeta.index.provider import Preference

    path = scratch / "providers.toml"
    path.write_bytes(data)
    Preference.from_toml(str(path)).kinds_for("tensorflow")


def run_script(data: bytes, scratch: Path) -> None:
    """A Python script with PEP 723 inline metadata as `wheelmeta lock script.py` reads it."""
    from wheelmeta.resolve.inputs import LockInputs

    path = scratch / "script.py"
    path.write_bytes(data)
    LockInputs.from_arguments([str(path)])


def run_patch_manifest(data: bytes, scratch: Path) -> None:
    """`wheelmeta patch --undo` on an environment whose manifest is the bytes: it may restore files inside the
    environment only, and only files whose hashes say they are the ones it patched."""
    from wheelmeta.patchelf_nix.sitepatch import MANIFEST_DIR, undo_site

    site = scratch / "site"
    (site / MANIFEST_DIR / "originals").mkdir(parents=True)
    (site / MANIFEST_DIR / "originals" / "0").write_bytes(b"original")
    (site / "demo").mkdir()
    (site / "demo" / "_demo.so").write_bytes(b"patched")
    (site / MANIFEST_DIR / "manifest.json").write_bytes(data)
    undo_site(str(site))


# ---------------------------------------------------------------------------------------------------------------------
# seeds


def macho_seeds(folder: Path) -> List[bytes]:
    """A 32-bit dylib written with macholib's structures, and (with clang and lld) a thin arm64 bundle and a
    universal2 dylib linked by ld64.lld."""
    import machobuild

    seeds = [machobuild.i386_dylib("@rpath/libdemo.dylib", ["/usr/lib/libSystem.B.dylib", "@rpath/libdep.dylib"])]
    arm = machobuild.dylib(folder, "ext", bundle=True, rpaths=["@loader_path/.dylibs"])
    intel = machobuild.dylib(folder, "lib", arch="x86_64", min_os="10.9")
    lib_arm = machobuild.dylib(folder, "lib", arch="arm64")
    return seeds + [arm.read_bytes(), machobuild.fat(folder, "libfat", intel, lib_arm).read_bytes()]


def pe_seeds(folder: Path) -> List[bytes]:
    """DLLs linked by lld-link with imports and delay-load imports, for amd64 and i386."""
    import machobuild

    made = [machobuild.dll(folder / "amd64", "demo", imports={"KERNEL32.dll": ["GetTickCount"]},
                           delay={"USER32.dll": ["MessageBoxA"]}),
            machobuild.dll(folder / "i386", "demo", machine="i386", imports={"python311.dll": ["Py_Initialize"]})]
    return [path.read_bytes() for path in made]


def pylock_seeds(folder: Path) -> List[bytes]:
    import lockbuild

    return [lockbuild.toml_text(lockbuild.lock_dict(lockbuild.seed_packages())).encode()]


REQUIREMENT_FILES = [
    "numpy>=1.17\nrequests[socks] (<2.22); python_version >= '3.7'\n-c constraints.txt\n",
    "--index-url https://index.invalid/simple\n--extra-index-url https://other.invalid/simple\n"
    "six==1.16.0 --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\n",
    "-f ./wheels\ndemo @ https://index.invalid/demo-1.0-py3-none-any.whl\n# a comment\n-r more.txt\n",
]
PROVIDERS_FILES = [
    '[providers]\n_default = "sdist,wheel"\ntensorflow = ["wheel"]\n"Py-Yaml" = "wheel, sdist"\n',
    '_default = "wheel"\nnumpy = "nixpkgs"\n',
]
SCRIPTS = [
    '# /// script\n# dependencies = ["a", "b<2"]\n# requires-python = ">=3.8"\n# ///\nimport a\n',
    ('#!/usr/bin/env python3\n# /// script\n# dependencies = [\n#   "requests[socks]<3; python_version >= \'3.8\'",\n'
     '# ]\n# [tool.x]\n# y = 1\n# ///\n'),
]
PATCH_MANIFESTS = [
    '{"files": [{"path": "demo/_demo.so", "backup": "originals/0", "mode": 493, "before": "'
    + "0" * 64 + '", "after": "' + "1" * 64 + '"}]}',
]


def wheel_seeds(folder: Path) -> List[bytes]:
    """Wheels the tests build (deflated, stored, zip64, with markers and a compiled ELF member) and a few real ones."""
    made = [
        builders.make_wheel(folder / "a", requires=builders.MARKER_DEMO_REQUIRES, extras=["socks"],
                            files={"demo/__init__.py": b"x = 1\n", "demo/top_level.txt": b"demo\n"}),
        builders.make_wheel(folder / "b", tag="cp311-cp311-manylinux_2_17_x86_64", compression=zipfile.ZIP_STORED,
                            files={"demo/_c.so": _compiled_elf(folder) or b"\x7fELF"}),
    ]
    seeds = [_with_name(p.name, p.read_bytes()) for p in made]
    seeds.append(_with_name(made[0].name, builders.to_zip64(made[0].read_bytes())))
    seeds.append(_with_name(made[1].name, builders.to_zip64(made[1].read_bytes())))
    for path in [CORPUS / name for name in CORPUS_WHEELS] + list(EXTRA_CORPUS_WHEELS):
        if path.is_file():
            seeds.append(_with_name(path.name, path.read_bytes()))
    return seeds


def _with_name(name: str, data: bytes) -> bytes:
    return name.encode() + b"\n" + data


def _compiled_elf(folder: Path) -> Optional[bytes]:
    """A real shared object from cc (libm and libz version needs, SONAME, RUNPATH), or None without a compiler."""
    import shutil

    from elfbuild import compile_so

    if not (shutil.which("cc") or shutil.which("gcc")):
        return None
    source = "#include <math.h>\ndouble f(double x){return cos(x);}\nvoid *PyInit__c(void){return 0;}\n"
    try:
        return compile_so(folder / "elf", "_c.so", source, soname="_c.so", runpath=["$ORIGIN/../lib"],
                          libs=["m"]).read_bytes()
    except RuntimeError:
        return None


def elf_seeds(folder: Path) -> List[bytes]:
    from elfbuild import hand_built_elf

    seeds = [hand_built_elf(needed=["libc.so.6", "libfoo.so.1"], soname="libdemo.so.1", runpath="$ORIGIN",
                            verneed={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.17"], "libm.so.6": ["GLIBC_2.29"]},
                            machine="x86_64"),
             hand_built_elf(elf_class=32, little=False, machine="s390x", needed=["libc.so.6"],
                            verneed={"libc.so.6": ["GLIBC_2.0"]})]
    compiled = _compiled_elf(folder)
    return seeds + ([compiled] if compiled else [])


_SDIST_FILES = {
    "PKG-INFO": builders.metadata_text("demo", "1.0", requires=["requests>=2"], metadata_version="2.2"),
    "pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                      '[project]\nname = "demo"\nversion = "1.0"\n'
                      'dependencies = ["requests>=2; python_version >= \'3\'"]\n',
    "setup.cfg": "[options]\ninstall_requires =\n    six>=1.0\n",
    "demo/__init__.py": "x = 1\n",
}


def sdist_seeds(fmt: str) -> Callable[[Path], List[bytes]]:
    def seeds(folder: Path) -> List[bytes]:
        dynamic = dict(_SDIST_FILES, **{"PKG-INFO": builders.metadata_text("demo", "1.0", metadata_version="2.1")})
        return [builders.make_sdist(folder / "a", files=_SDIST_FILES, fmt=fmt).read_bytes(),
                builders.make_sdist(folder / "b", files=dynamic, fmt=fmt).read_bytes()]

    return seeds


PYPROJECTS = [
    _SDIST_FILES["pyproject.toml"],
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "demo"\n'
    'version = "1.0"\ndynamic = ["dependencies", "optional-dependencies"]\nrequires-python = ">=3.8"\n'
    '[tool.setuptools.dynamic]\ndependencies = { file = ["requirements.txt"] }\n'
    'optional-dependencies.dev = { file = "requirements.txt" }\n',
    '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n[tool.poetry]\n'
    'name = "demo"\nversion = "1.0"\n[tool.poetry.dependencies]\npython = "^3.8"\nrequests = "^2.20"\n'
    'pyyaml = { version = ">=5", optional = true, markers = "sys_platform == \'linux\'" }\n'
    '[tool.poetry.extras]\nyaml = ["pyyaml"]\n',
    '[project]\nname = "demo"\nversion = "1.0"\n[project.optional-dependencies]\n'
    'socks = ["PySocks>=1.5.6,!=1.5.7", "win-inet-pton; sys_platform == \'win32\'"]\n',
]

SETUP_CFGS = [
    "[metadata]\nname = demo\n[options]\npython_requires = >=3.7\ninstall_requires =\n    requests>=2\n"
    "    tomli; python_version < '3.11'\n[options.extras_require]\nsocks = PySocks>=1.5.6\n",
    "[options]\ninstall_requires = file: requirements.txt\nsetup_requires = setuptools_scm\n"
    "tests_require = pytest\n",
]

METADATA = [
    builders.metadata_text("demo", "1.0", requires=builders.MARKER_DEMO_REQUIRES, requires_python=">=3.7",
                           extras=["socks", "use-chardet-on-py3"], metadata_version="2.2",
                           extra_headers=["Project-URL: Home, https://example.invalid", "Dynamic: license"]),
    "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: folded\n  over two lines\n"
    "Requires-Dist: six\n\nlong description\n",
]

WHEEL_FILES = [
    "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n",
    "demo/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,1\ndemo-1.0.dist-info/RECORD,,\n",
]

INDEX_PAGES = [
    '<html><body><a href="demo-1.0-py3-none-any.whl#sha256=' + "ab" * 32 + '" data-requires-python="&gt;=3.7" '
    'data-dist-info-metadata="sha256=' + "cd" * 32 + '">demo-1.0-py3-none-any.whl</a>\n'
    '<a href="../../files/demo-1.0.tar.gz">demo-1.0.tar.gz</a></body></html>\n',
    '{"meta": {"api-version": "1.0"}, "name": "demo", "files": [{"filename": "demo-1.0-py3-none-any.whl", '
    '"url": "demo-1.0-py3-none-any.whl", "hashes": {"sha256": "' + "ab" * 32 + '"}, "requires-python": ">=3.7", '
    '"core-metadata": {"sha256": "' + "cd" * 32 + '"}, "yanked": false}]}\n',
]

FILENAMES = [
    "demo-1.0-py3-none-any.whl", "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "demo-1.0-1build-cp37-cp37m-manylinux_2_28_aarch64.whl", "demo-1.0-cp312-abi3-musllinux_1_2_x86_64.whl",
    "demo-1.0-py2.py3-none-macosx_11_0_arm64.whl",
]

SONAME_MAPS = [
    'schema = 1\n[[provider]]\nattribute = "zlib"\nsonames = ["libz.so.1"]\nevidence = "pkgs/zlib"\n'
    '[[provider]]\nclass = "driver"\nsonames = ["libcuda.so.*"]\n[sonames]\n"libfoo.so.1" = "foo"\n',
]


def _texts(texts: List[str]) -> Callable[[Path], List[bytes]]:
    return lambda folder: [t.encode() for t in texts]


def _builtin_map(folder: Path) -> List[bytes]:
    from wheelmeta.patchelf_nix.sonames import builtin_map_path

    return [t.encode() for t in SONAME_MAPS] + [builtin_map_path().read_bytes()[:6000]]


# ---------------------------------------------------------------------------------------------------------------------
# whole-input structure mutations: members renamed (deep paths, NUL bytes) by rewriting the archive


def rename_tar_member(data: bytes, rng: random.Random) -> bytes:
    """The tar rewritten (pax) with one member renamed to a path thousands of folders deep, with a NUL byte,
    or climbing out; the names a real archiver can write."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = [(info, tar.extractfile(info).read() if info.isreg() else None) for info in tar]
    except (tarfile.TarError, EOFError, OSError, ValueError):
        return data
    if not members:
        return data
    out = io.BytesIO()
    victim = rng.randrange(len(members))
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i, (info, body) in enumerate(members):
            if i == victim:
                info.name = rng.choice(("demo-1.0/" + "d/" * rng.choice((300, 3000)) + "f.py",
                                        "demo-1.0/" + "a" * 120 + "\0b.py", "demo-1.0/x\0/y.py"))
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
    return out.getvalue()


def rename_zip_member(data: bytes, rng: random.Random) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(info, zf.read(info)) for info in zf.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError, EOFError):
        return data
    if not members:
        return data
    victim = rng.randrange(len(members))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (info, body) in enumerate(members):
            name = info.filename
            if i == victim:
                name = "demo-1.0/" + "d/" * rng.choice((300, 3000)) + "f.py"
            zf.writestr(name, body)
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _sdist(fmt: str, suffix: str, layer=None, fields: Callable[[bytes], List[Field]] = lambda d: [],
           rebuild=None) -> FuzzTarget:
    return FuzzTarget(f"sdist-{fmt}", sdist_seeds(fmt), run_sdist(suffix), fields, layer=layer,
                      rebuild=rebuild)


TARGETS: List[FuzzTarget] = [
    FuzzTarget("wheel", wheel_seeds, run_wheel, zip_fields),
    FuzzTarget("wheel-cli", wheel_seeds, run_wheel_cli, zip_fields),
    FuzzTarget("wheel-filename", _texts(FILENAMES), run_wheel_filename, text=True),
    FuzzTarget("wheel-files", _texts(WHEEL_FILES), run_wheel_files, text=True),
    FuzzTarget("elf", elf_seeds, run_elf, elf_fields),
    _sdist("tar.gz", ".tar.gz", (gzip.decompress, _gzip), rebuild=rename_tar_member),
    _sdist("tar.bz2", ".tar.bz2", (bz2.decompress, bz2.compress), rebuild=rename_tar_member),
    _sdist("tar.xz", ".tar.xz", (lzma.decompress, lzma.compress), rebuild=rename_tar_member),
    _sdist("tar", ".tar", fields=_tar_fields, rebuild=rename_tar_member),
    _sdist("zip", ".zip", fields=zip_fields, rebuild=rename_zip_member),
    FuzzTarget("sdist-cli", sdist_seeds("tar.gz"), run_sdist_cli, layer=(gzip.decompress, _gzip),
               rebuild=rename_tar_member),
    FuzzTarget("metadata", _texts(METADATA), run_metadata, text=True),
    FuzzTarget("pyproject", _texts(PYPROJECTS), run_pyproject, text=True),
    FuzzTarget("setup-cfg", _texts(SETUP_CFGS), run_setup_cfg, text=True),
    FuzzTarget("soname-map", _builtin_map, run_soname_map, text=True),
    FuzzTarget("index-page", _texts(INDEX_PAGES), run_index_page, text=True),
    FuzzTarget("macho", macho_seeds, run_macho),
    FuzzTarget("pe", pe_seeds, run_pe),
    FuzzTarget("pylock", pylock_seeds, run_pylock, text=True),
    FuzzTarget("lock-inputs", _texts(REQUIREMENT_FILES), run_lock_inputs, text=True),
    FuzzTarget("providers-file", _texts(PROVIDERS_FILES), run_providers_file, text=True),
    FuzzTarget("script", _texts(SCRIPTS), run_script, text=True),
    FuzzTarget("patch-manifest", _texts(PATCH_MANIFESTS), run_patch_manifest, text=True),
    FuzzTarget("snapshot", fuzz_crawl.snapshot_seeds, fuzz_crawl.run_snapshot, layer=(gzip.decompress, _gzip)),
    FuzzTarget("project-list", fuzz_crawl.project_list_seeds, fuzz_crawl.run_project_list, text=True),
]
