"""The `panicfuzz` command line: parse -> run -> render.

`parser()` assembles the subcommands of `panicfuzz.commands` (one module
each); `main()` runs the chosen one and maps errors to exit codes. What is
printed is built in `panicfuzz.render`.

Exit codes: 0 as expected / nothing found, 1 a failure found (or a replay
that did not behave as checked), 2 bad input (one line naming the file,
field or value), 70 an internal error of panicfuzz itself (a bug to report;
never 1, which means a bug of the model was found).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__, commands, corpus
from .errors import UsageError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="panicfuzz",
        description=(
            "Search the schedules and interrupt arrivals of Linux panic/stop/crash protocol models "
            "for deadlocks, livelocks and broken invariants; shrink each failure to a minimal "
            "reproducer, draw it as a CPU-column timeline, save it, and replay it forever after."
        ),
        epilog=(
            "examples:\n"
            "  panicfuzz list\n"
            "  panicfuzz fuzz hpet --variant mainline\n"
            "  panicfuzz replay corpus/hpet/mainline/*.json\n"
            "  panicfuzz replay corpus/hpet/mainline/*.json --variant panic-cpu-check\n\n"
            "exit status: 0 as expected, 1 a failure found, 2 bad input (one line naming the file, field or "
            "value), 70 an internal error of panicfuzz (a bug of the tool: please report it)\n\n"
            "environment: PANICFUZZ_STEP_BUDGET=S (default 10): seconds a model's local code may run between two "
            "schedule points before the watchdog reports it as a model error (stuck at file:line)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"panicfuzz {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in commands.modules():
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, corpus.CorpusError) as e:
        print(f"panicfuzz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("panicfuzz: interrupted (saved findings are complete files)", file=sys.stderr)
        return 130
    except OSError as e:
        if e.filename is None:
            return _internal_error(e)
        print(f"panicfuzz: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    except Exception as e:
        return _internal_error(e)


EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h)


def _internal_error(e: Exception) -> int:
    """A bug of panicfuzz itself: never exit 1, which would read as a bug found in the model."""
    import traceback

    traceback.print_exc(file=sys.stderr)
    print(
        f"panicfuzz: internal error: {type(e).__name__}: {e}\n"
        f"this is a panicfuzz bug, not a finding: please report it with the command line and the traceback above",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
