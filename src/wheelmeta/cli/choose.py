"""``wheelmeta choose``."""

from __future__ import annotations

import argparse
import sys

from ..errors import WheelmetaError
from .common import (
    add_target_options,
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
    add_index_and_preference_options(p)
    p.set_defaults(run=run)


def add_index_and_preference_options(p: argparse.ArgumentParser) -> None:
    """Where files come from and which kind is taken (shared with ``wheelmeta lock``)."""
    g = p.add_argument_group("indexes (default: pip's configuration)")
    g.add_argument("-i", "--index-url", metavar="URL", help="main index (PEP 503/691), replaces pip's configured one")
    g.add_argument("--extra-index-url", metavar="URL", action="append", help="another index; repeatable")
    g.add_argument("-f", "--find-links", metavar="PATH_OR_URL", action="append",
                   help="a folder or HTML page of files; repeatable")
    g.add_argument("--no-index", action="store_true", help="ignore indexes, use --find-links only")
    g = p.add_argument_group("preference (default: like pip, newest version, wheel over sdist at that version)")
    kinds = g.add_mutually_exclusive_group()
    kinds.add_argument("--prefer-wheels", "--prefer-binary", action="store_true",
                       help="the newest version that has a compatible wheel wins over newer sdist-only versions "
                       "(pip's --prefer-binary)")
    kinds.add_argument("--prefer-sdist", action="store_true", help="the newest version with an sdist wins")
    kinds.add_argument("--only-wheels", action="store_true", help="wheels only")
    kinds.add_argument("--only-sdist", action="store_true", help="sdists only")
    g.add_argument("--only-binary", metavar=":all:|NAMES", action="append", help="pip's spelling: wheels only")
    g.add_argument("--no-binary", metavar=":all:|NAMES", action="append", help="pip's spelling: sdists only")
    g.add_argument("--provider", metavar="NAME=KINDS", action="append",
                   help="per package, mach-nix style: tensorflow=wheel, _default=sdist,wheel; repeatable")
    g.add_argument("--providers", metavar="FILE", help="the same table from a TOML file ([providers] name = kinds)")


def _choose_preference(args: argparse.Namespace):
    """The Preference the options describe: global flag, then pip's format control, then the provider table."""
    from ..index.provider import Preference

    if args.prefer_wheels:
        pref = Preference.prefer_wheels()
    elif args.prefer_sdist:
        pref = Preference.prefer_sdist()
    elif args.only_wheels:
        pref = Preference.only_wheels()
    elif args.only_sdist:
        pref = Preference.only_sdist()
    else:
        pref = Preference.pip()
    pref = pref.with_pip_format_control(args.only_binary or (), args.no_binary or ())
    if args.providers:
        pref = Preference.from_toml(args.providers, base=pref)
    if args.provider:
        pref = Preference.from_specs(args.provider, base=pref)
    return pref


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
    preference = _choose_preference(args)
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
