"""Check wheelmeta's ELF facts against binutils' readelf, member by member.

    python benchmarks/check_readelf.py WHEEL... [--quiet]

For every ELF member wheelmeta finds in each wheel, the member is extracted to a temporary file (one at a time,
deleted right after) and compared: DT_NEEDED in order against ``readelf -d``, and the version requirements
(library -> version names) against ``readelf -V``. Prints each disagreement and a summary; exits 1 if any.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict, List, Set, Tuple

from wheelmeta.manylinux.audit import audit_source

_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[(.*)\]")
_FILE = re.compile(r"^\s*(?:0x)?[0-9a-f]+: Version: \d+\s+File: (\S+)\s+Cnt: \d+")
_NAME = re.compile(r"^\s*(?:0x)?[0-9a-f]+:\s+Name: (\S+)\s+Flags:")


def readelf_facts(path: str) -> Tuple[List[str], Dict[str, Set[str]]]:
    """(DT_NEEDED in order, library -> version names) as readelf prints them."""
    dynamic = subprocess.run(["readelf", "-dW", path], capture_output=True, text=True).stdout
    versions = subprocess.run(["readelf", "-VW", path], capture_output=True, text=True).stdout
    needed = _NEEDED.findall(dynamic)
    requirements: Dict[str, Set[str]] = {}
    current = None
    in_needs = False
    for line in versions.splitlines():
        if line.startswith("Version needs section"):
            in_needs = True
            continue
        if line.startswith(("Version symbols section", "Version definition section")):
            in_needs = False
            continue
        if not in_needs:
            continue
        file_match, name_match = _FILE.match(line), _NAME.match(line)
        if file_match:
            current = file_match.group(1)
            requirements.setdefault(current, set())
        elif name_match and current:
            requirements[current].add(name_match.group(1))
    return needed, requirements


def check_wheel(path: str, quiet: bool) -> Tuple[int, List[str]]:
    """(ELF members checked, disagreements) for one wheel."""
    audit = audit_source(path)
    problems: List[str] = []
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
        for facts in audit.elf_files:
            target = os.path.join(tmp, "member")
            with zf.open(facts.path) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            needed, requirements = readelf_facts(target)
            ours = {lib: set(v) for lib, v in facts.version_requirements.items()}
            if list(facts.needed) != needed:
                problems.append(f"{path}:{facts.path}: DT_NEEDED {list(facts.needed)} != readelf {needed}")
            if ours != requirements:
                problems.append(f"{path}:{facts.path}: version needs {ours} != readelf {requirements}")
            os.unlink(target)
    if not quiet:
        verdict = "ok" if not problems else f"{len(problems)} DIFFER"
        print(f"{os.path.basename(path)[:70]:<70} {len(audit.elf_files):4d} ELF members  {verdict}", flush=True)
    return len(audit.elf_files), problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheels", nargs="+")
    parser.add_argument("--quiet", action="store_true", help="print disagreements and the summary only")
    args = parser.parse_args(argv)
    if shutil.which("readelf") is None:
        print("readelf (binutils) not installed", file=sys.stderr)
        return 2
    members, wheels_with_elf, problems = 0, 0, []
    for path in args.wheels:
        count, wrong = check_wheel(path, args.quiet)
        members += count
        wheels_with_elf += bool(count)
        problems += wrong
    for line in problems:
        print("DIFFER", line)
    print(f"\n{len(args.wheels)} wheels ({wheels_with_elf} with ELF members), {members} ELF members: "
          f"{len(problems)} disagreements with readelf -d / -V")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
