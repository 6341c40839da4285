"""The ``wheelmeta`` command: argparse subcommands, output formats (text, --json, nix), exit codes, progress bars.

Exit codes: 0 success, 1 an error the input caused (one line on stderr naming the file and the problem),
2 usage errors, 130 interrupted. Set ``WHEELMETA_DEBUG=1`` to get tracebacks instead of one-line errors.

Each subcommand is a module here with an ``add_parser(subparsers)`` that declares its options and a ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional, Sequence

from .. import __version__
from ..errors import WheelmetaError
from . import choose, crawl, env, lock, metadata, nix, patch, scan
from .common import expand_paths

__all__ = ["main", "build_parser", "expand_paths"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelmeta",
        description="What a Python distribution needs: dependencies of any sdist or wheel, and the native "
        "libraries of binary wheels mapped to nixpkgs.",
    )
    parser.add_argument("--version", action="version", version=f"wheelmeta {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=_QUIET_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in (metadata, scan, nix, choose, lock, crawl, env, patch):
        command.add_parser(sub)
    for command_parser in sub.choices.values():
        _add_global_options(command_parser)
    return parser


_QUIET_HELP = "no progress bars or warnings"


def _add_global_options(command_parser: argparse.ArgumentParser) -> None:
    """The global options a user writes after the subcommand too (``wheelmeta scan x.whl -q``), and the parser
    that reports the subcommand's own usage when one of its options is wrong.

    SUPPRESS as default: an option not given after the subcommand leaves the value given before it in place."""
    command_parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP)
    command_parser.set_defaults(command_parser=command_parser)


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"wheelmeta: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def _configure_logging(quiet: bool) -> None:
    """Library warnings go through ``logging``; the CLI shows them as one ``wheelmeta: warning:`` line each.

    ``-q`` keeps errors only. The handler sits on the ``wheelmeta`` logger, not the root logger, and records still
    propagate, so a program that calls :func:`main` keeps its own logging."""
    logger = logging.getLogger("wheelmeta")
    for handler in list(logger.handlers):
        if getattr(handler, "_wheelmeta_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    handler._wheelmeta_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.setLevel(logging.ERROR if quiet else logging.WARNING)


def _unrecognized_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: List[str],
                            unknown: List[str]) -> None:
    """Exit 2 with the usage of the parser the first unknown argument was given to."""
    command_at = argv.index(args.command) if args.command in argv else len(argv)
    given_to_command = unknown[0] not in argv[:command_at]
    blamed = getattr(args, "command_parser", parser) if given_to_command else parser
    blamed.error(f"unrecognized arguments: {' '.join(unknown)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse blames the top-level parser; after the subcommand they are the subcommand's
        _unrecognized_arguments(parser, args, list(sys.argv[1:] if argv is None else argv), unknown)
    _configure_logging(bool(getattr(args, "quiet", False)))
    try:
        return int(args.run(args) or 0)
    except WheelmetaError as exc:
        if os.environ.get("WHEELMETA_DEBUG"):
            raise
        print(f"wheelmeta: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("wheelmeta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into head & co.: not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
