"""``wheelmeta choose``."""

from __future__ import annotations

import argparse
import sys

from ..errors import WheelmetaError
from .common import (
    add_index_options,
    add_preference_options,
    add_target_options,
    preference_from_args,
    print_json,
    target_from_args,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "choose",
        help="choose an sdist or a wheel for requirements from the configured indexes",
        description="For each requirement, the file a resolver should use on the target, by preference. Indexes "
        "default to pip's configuration (pip config files, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS) and "
        "pip's own default index.",
    )
    p.add_argument("requirements", nargs="+", metavar="REQ", help='a requirement, e.g. "tensorflow==2.1.0"')
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--explain", action="store_true", help="also list every rejected file with its reason")
    add_target_options(p)
    add_index_options(p)
    add_preference_options(p)
    p.set_defaults(run=run)


def _choose_file_json(dist) -> dict:
    return {
        "filename": dist.filename,
        "url": dist.url,
        "sha256": dist.sha256,
        "size": dist.size,
        "kind": dist.kind,
        "version": str(dist.version),
        "index": dist.index,
    }


def _choose_to_json(choice, explain: bool) -> dict:
    out = {"requirement": str(choice.requirement), **_choose_file_json(choice.file), "reason": choice.reason}
    if explain:
        out["rejected"] = [{**_choose_file_json(d), "reason": why} for d, why in choice.rejected]
    return out


def _choose_print_text(choice, explain: bool) -> None:
    f = choice.file
    print(f"{choice.requirement}: {f.filename}")
    for key, value in (("url", f.url), ("sha256", f.sha256), ("size", f.size), ("kind", f.kind),
                       ("version", f.version), ("reason", choice.reason)):
        print(f"  {key + ':':9}{value if value is not None else '-'}")
    if explain:
        print(f"  rejected ({len(choice.rejected)}):")
        for dist, why in choice.rejected:
            print(f"    {dist.filename}: {why}")


def run(args: argparse.Namespace) -> int:
    from ..index.config import IndexConfig
    from ..index.provider import choose
    from ..index.simple import IndexClient
    from ..target import Target

    target = target_from_args(args) or Target.from_host()
    preference = preference_from_args(args)
    config = IndexConfig.from_pip(index_url=args.index_url, extra_index_urls=args.extra_index_url or (),
                                  find_links=args.find_links or (), no_index=args.no_index)
    index = IndexClient.from_config(config, config.http_client())
    results, status = [], 0
    for requirement in args.requirements:
        try:
            choice = choose(requirement, target, preference, index)
        except WheelmetaError as exc:  # one requirement that cannot be met does not stop the others
            if len(args.requirements) == 1 and not args.json:
                _explain_no_match(exc, args.explain)
                raise
            print(f"wheelmeta: error: {exc}", file=sys.stderr)
            _explain_no_match(exc, args.explain and not args.json)
            results.append({"requirement": requirement, "error": str(exc)})
            status = max(status, exc.exit_code)
            continue
        if args.json:
            results.append(_choose_to_json(choice, args.explain))
        else:
            _choose_print_text(choice, args.explain)
    if args.json:
        print_json(results)
    return status


def _explain_no_match(exc: WheelmetaError, explain: bool) -> None:
    """With --explain, why each offered file lost, under the one-line error."""
    if explain:
        for dist, why in getattr(exc, "rejected", ()):
            print(f"  {dist.filename}: {why}", file=sys.stderr)
