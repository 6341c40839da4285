"""A pure (``any``) wheel with real ELF files for several architectures, for the scan and nix tests.

    >>> from multiarch import multiarch_wheel   # a pytest fixture: import it into the test module  # doctest: +SKIP
"""

from __future__ import annotations

import pytest

from builders import make_wheel
from elfbuild import compile_so, patch

E_MACHINE_OFFSET = 18  # e_machine in the ELF header, after e_ident (16 bytes) and e_type


@pytest.fixture
def multiarch_wheel(tmp_path):
    """A pure (any) wheel with one solver library per architecture, each needing something of its own: x86_64 only
    libm (real), aarch64 a real x86_64 object re-stamped EM_AARCH64 needing libarmonly.so.2, i686 a real 32-bit
    object (cc -m32) needing libi686only.so.3. The aarch64 member comes first in name order."""
    stubs = tmp_path / "stubs"
    compile_so(stubs, "libarmonly.so.2", "int arm(void){return 2;}", soname="libarmonly.so.2")
    compile_so(stubs / "32", "libi686only.so.3", "int i686(void){return 3;}", soname="libi686only.so.3", m32=True)
    x86 = compile_so(tmp_path / "x86_64", "libsolver.so", "#include <math.h>\ndouble s(double x){return sin(x);}\n", libs=["m"])
    arm = compile_so(tmp_path / "aarch64", "libsolver.so", "int arm(void);\nint s(void){return arm();}\n",
                     libs=[":libarmonly.so.2"], lib_dirs=[stubs])
    patch(arm, E_MACHINE_OFFSET, "<H", 183)
    i686 = compile_so(tmp_path / "i686", "libsolver.so", "int i686(void);\nint s(void){return i686();}\n",
                      libs=[":libi686only.so.3"], lib_dirs=[stubs / "32"], m32=True)
    files = {f"solver/bin/{arch}/libsolver.so": lib.read_bytes() for arch, lib in
             (("aarch64", arm), ("i686", i686), ("x86_64", x86))}
    return make_wheel(tmp_path / "dist", "solver", "1.0", tag="py3-none-any", files=files)
