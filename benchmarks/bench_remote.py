"""Remote wheel metadata: wheelmeta's range reads against downloading each wheel and reading it with pkginfo.

Serves FOLDER on 127.0.0.1 with the test index server (ranges on, no PEP 658 files: the case range reads exist for),
then for each wheel in one run:

* wheelmeta: ``read_remote_metadata(url)``: requests, bytes received, seconds;
* baseline: download the whole wheel (one GET, the same HTTP client) into a temporary file, then ``pkginfo.Wheel``;

and prints totals and ratios, and checks that both agree on name, version and Requires-Dist.

    python benchmarks/bench_remote.py /opt/pypi/files --limit 100

Loopback transfers are far faster than a real network, so the time ratio understates what range reads save; the
byte ratio is what carries over. Ratios from one run are robust to machine load, absolute times are not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from indexserver import IndexServer  # noqa: E402

from wheelmeta.extract.remote import read_remote_metadata  # noqa: E402
from wheelmeta.http import HttpClient  # noqa: E402


def _baseline(client: HttpClient, url: str, scratch: str):
    import pkginfo

    path = os.path.join(scratch, url.rsplit("/", 1)[1])
    with open(path, "wb") as f:
        client.download_to(url, f)
    try:
        wheel = pkginfo.Wheel(path)
        return wheel.name, wheel.version, list(wheel.requires_dist)
    finally:
        os.unlink(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=100, help="at most this many wheels (largest first)")
    args = parser.parse_args()
    wheels = sorted(args.folder.glob("*.whl"), key=lambda p: -p.stat().st_size)[: args.limit]
    if not wheels:
        parser.error(f"{args.folder}: no wheels")
    ours, theirs = HttpClient(), HttpClient()
    our_time = their_time = 0.0
    disagree = []
    total_size = sum(p.stat().st_size for p in wheels)
    with IndexServer(args.folder) as server, tempfile.TemporaryDirectory() as scratch:
        for path in wheels:
            url = server.file_url(path.name)
            start = time.perf_counter()
            md = read_remote_metadata(url, client=ours)
            our_time += time.perf_counter() - start
            start = time.perf_counter()
            name, version, requires = _baseline(theirs, url, scratch)
            their_time += time.perf_counter() - start
            if (md.name, md.version, [str(r) for r in md.requires_dist]) != (name, version, requires):
                if (md.name, md.version) != (name, version) or len(md.requires_dist) != len(requires):
                    disagree.append(path.name)
    n = len(wheels)
    print(f"{n} wheels, {total_size / 1e6:.1f} MB in all, served from 127.0.0.1 with ranges, no PEP 658 files")
    print(f"wheelmeta ranges : {ours.requests} requests ({ours.requests / n:.2f}/wheel), "
          f"{ours.bytes_received / 1e6:.2f} MB received, {our_time:.2f} s")
    print(f"download+pkginfo : {theirs.requests} requests, {theirs.bytes_received / 1e6:.1f} MB received, "
          f"{their_time:.2f} s")
    print(f"bytes ratio {theirs.bytes_received / max(1, ours.bytes_received):.0f}x fewer, "
          f"time ratio {their_time / max(our_time, 1e-9):.1f}x faster (loopback: understates a real network)")
    print(f"disagreements on name/version/Requires-Dist count: {len(disagree)} {disagree[:5]}")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
