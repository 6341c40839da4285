"""``wheelmeta choose``."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import WheelmetaError
from .common import (
    add_target_options,
    print_json,
    require_file,
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
    p.add_argument("--explain", action="store_true",
                   help="also say why the other files were rejected: grouped by reason, newest first, a few examples "
                   "each in text (every file with --json)")
    p.add_argument("-c", "--constraint", metavar="FILE", action="append",
                   help="a pip constraints file; repeatable; binds together with pip's configured ones "
                   "(constraint / PIP_CONSTRAINT)")
    add_target_options(p)
    add_index_and_preference_options(p)
    p.set_defaults(run=run)


def add_index_options(p: argparse.ArgumentParser) -> None:
    """Where files come from (shared with ``wheelmeta lock`` and ``wheelmeta crawl``)."""
    g = p.add_argument_group("indexes (default: pip's configuration)")
    g.add_argument("-i", "--index-url", metavar="URL", help="main index (PEP 503/691), replaces pip's configured one")
    g.add_argument("--extra-index-url", metavar="URL", action="append", help="another index; repeatable")
    g.add_argument("-f", "--find-links", metavar="PATH_OR_URL", action="append",
                   help="a folder or HTML page of files; repeatable")
    g.add_argument("--no-index", action="store_true", help="ignore indexes, use --find-links only")


def add_index_and_preference_options(p: argparse.ArgumentParser) -> None:
    """Where files come from and which kind is taken (shared with ``wheelmeta lock``)."""
    add_index_options(p)
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
        pref = Preference.from_toml(require_file("--providers", args.providers), base=pref)
    if args.provider:
        pref = Preference.from_specs(args.provider, base=pref)
    return pref


def _choose_file_json(dist) -> dict:
    return {
        "filename": dist.filename,
        "url": _pinned_url(dist),
        "sha256": dist.sha256,
        "size": dist.size,
        "kind": dist.kind,
        "version": str(dist.version),
        "index": dist.index,
    }


def _pinned_url(dist) -> str:
    """The URL with its ``#sha256=`` fragment when the hash is known: what ``wheelmeta nix URL`` and pip's
    hash-checking take, so the printed URL can be passed on as it is."""
    return f"{dist.url}#sha256={dist.sha256}" if dist.sha256 else dist.url


def _choose_to_json(choice, explain: bool) -> dict:
    if not choice.needed:
        return {"requirement": str(choice.requirement), "needed": False, "reason": choice.reason}
    out = {"requirement": str(choice.requirement), "needed": True, **_choose_file_json(choice.file),
           "reason": choice.reason}
    if explain:
        out["rejected"] = _rejections_json(choice.rejected)
    return out


def _rejections_json(rejected) -> list:
    from ..index.provider import group_rejections

    return [{"reason": group.reason, "count": len(group.files),
             "files": [{**_choose_file_json(d), "reason": why} for d, why in group.files]}
            for group in group_rejections(rejected)]


def _choose_print_text(choice, explain: bool) -> None:
    if not choice.needed:
        print(f"{choice.requirement}: not needed\n  {'reason:':9}{choice.reason}")
        return
    f = choice.file
    print(f"{choice.requirement}: {f.filename}")
    for key, value in (("url", _pinned_url(f)), ("sha256", f.sha256), ("size", f.size), ("kind", f.kind),
                       ("version", f.version), ("reason", choice.reason)):
        print(f"  {key + ':':9}{value if value is not None else '-'}")
    if explain and not choice.rejected:
        print("  rejected: none (no other file was offered)")
    elif explain:
        print(f"  rejected ({_files(len(choice.rejected))}, by reason, newest first):")
        _print_rejections(choice.rejected, sys.stdout, indent="    ")


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


_EXAMPLES = 3  # files shown per reason in text; --json lists them all


def _print_rejections(rejected, stream, indent: str) -> None:
    from ..index.provider import group_rejections

    for group in group_rejections(rejected):
        count = len(group.files)
        print(f"{indent}{_files(count)}: {group.reason}", file=stream)
        for dist, _ in group.files[:_EXAMPLES]:
            print(f"{indent}  {dist.filename}", file=stream)
        if count > _EXAMPLES:
            print(f"{indent}  ... and {count - _EXAMPLES} more (all of them with --json)", file=stream)


def run(args: argparse.Namespace) -> int:
    from ..index.config import IndexConfig
    from ..index.constraints import Constraints
    from ..index.provider import choose
    from ..index.simple import IndexClient
    from ..target import Target

    target = target_from_args(args) or Target.from_host()
    preference = _choose_preference(args)
    config = IndexConfig.from_pip(index_url=args.index_url, extra_index_urls=args.extra_index_url or (),
                                  find_links=args.find_links or (), no_index=args.no_index,
                                  constraint_files=[require_file("--constraint", c) for c in args.constraint or ()])
    constraints = Constraints.from_files(config.constraint_files)
    index = IndexClient.from_config(config, config.http_client())
    results, status = [], 0
    for requirement in args.requirements:
        try:
            choice = choose(requirement, target, preference, index, constraints)
        except WheelmetaError as exc:  # one requirement that cannot be met does not stop the others
            if os.environ.get("WHEELMETA_DEBUG"):
                raise
            results.append(_report_failure(requirement, exc, args))
            status = max(status, exc.exit_code)
            continue
        if args.json:
            results.append(_choose_to_json(choice, args.explain))
        else:
            _choose_print_text(choice, args.explain)
    if args.json:
        print_json(results)
    return status


def _report_failure(requirement: str, exc: WheelmetaError, args: argparse.Namespace) -> dict:
    """The one-line error on stderr (the library's message, plus the CLI's hint or, with --explain, the grouped
    rejections under it), and the requirement's JSON object."""
    rejected = getattr(exc, "rejected", ())
    hint = "; --explain lists every rejected file by reason" if rejected and not args.explain else ""
    print(f"wheelmeta: error: {exc}{hint}", file=sys.stderr)
    if args.explain and not args.json:
        _print_rejections(rejected, sys.stderr, indent="  ")
    out = {"requirement": requirement, "error": str(exc)}
    if args.json and args.explain and rejected:
        out["rejected"] = _rejections_json(rejected)
    return out
