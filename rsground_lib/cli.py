"""The ``rsground`` command line.

Subcommands wrap library functions; they hold no logic of their own. More arrive with the
chapters that need them (training, evaluation, grounding your own imagery).

Book chapter: "Overview" (``book/00_overview.py``, how to run).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rsground_lib import __version__
from rsground_lib.bench import BENCHMARKS, run_benchmarks
from rsground_lib.bookbuild import build_book
from rsground_lib.jupyter_setup import configure_jupyter
from rsground_lib.profiles import BookError


def _cmd_book(args: argparse.Namespace) -> int:
    """Build the book; an error of the pipeline (:class:`BookError`: a bad profile, a failed
    chapter, a failed render) or of the file system is printed as its message on stderr,
    without a traceback, with exit status 2 (bad input) or 1 (a chapter or the render
    failed). Anything else is a bug and keeps its traceback."""
    try:
        result = build_book(
            profile=args.profile, chapters=args.chapters or None, html=not args.no_html
        )
    except BookError as err:
        print(f"rsground book: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"rsground book: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rsground book: interrupted", file=sys.stderr)
        return 130
    if result.html_index is not None:
        print(f"\nThe book ({args.profile} profile) is at: {result.html_index}")
        print(
            f"Open it with:  xdg-open {result.html_index}   (or python -m http.server -d {result.html_index.parent})"
        )
    return 0


def _cmd_setup_jupyter(args: argparse.Namespace) -> int:
    for path in configure_jupyter(sys.prefix):
        print(f"wrote {path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    return run_benchmarks(names=args.names or None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rsground",
        description=(
            "RSGround-R1: remote-sensing visual grounding with a multimodal LLM "
            "(CoT-SFT, then GRPO with a positional reward and spatial consistency)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rsground {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    book = sub.add_parser(
        "book",
        help="execute the chapters on a profile and build the HTML book",
        description="Execute the chapters on a profile and build the HTML book. The profile is "
        "validated (keys, types, ranges) before anything runs. Exit status: 0 built, 2 bad "
        "input (profile, chapters, project), 1 a chapter or the render failed; errors are "
        "one message on stderr.",
    )
    book.add_argument(
        "--profile",
        default="smoke",
        help="a profile name, params/<name>.yml (letters, digits, '-', '_'; default: smoke), or "
        "the path of a .yml/.yaml file; the book goes to _build/<name or file stem>/",
    )
    book.add_argument(
        "--chapters",
        nargs="*",
        metavar="NAME",
        help="only these chapters (file stems, e.g. 00_overview); default: every chapter in _toc.yml",
    )
    book.add_argument(
        "--no-html", action="store_true", help="execute only; skip jupyter-book build"
    )
    book.set_defaults(func=_cmd_book)

    jup = sub.add_parser(
        "setup-jupyter",
        help="configure Jupyter inside this environment (root allowed, .py chapters open as notebooks)",
    )
    jup.set_defaults(func=_cmd_setup_jupyter)

    bench = sub.add_parser(
        "bench",
        help="run the benchmarks and print their tables",
        description="Run the benchmarks (speed and memory measured side by side in one run); "
        "tables are printed and JSON is written to runs/bench/<name>.json.",
        epilog="benchmarks: " + ", ".join(BENCHMARKS),
    )
    bench.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"only these ({', '.join(BENCHMARKS)}); default: all",
    )
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no subcommand is a usage error, as argparse's own
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
