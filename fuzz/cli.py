"""The `panicfuzz` command line: parse -> run -> render.

`parser()` assembles the subcommands of `panicfuzz.commands` (one module
each) and gives every one -q/-v; `main()` runs the chosen one and maps
errors to the exit codes below. What is printed is built in `panicfuzz.render`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, Sequence

from . import __version__, commands, corpus
from .errors import UsageError

EXIT_CODES = """\
exit status (every command):
  0    as claimed: every variant gave its model's claimed outcome, every replay behaved as checked
  1    not as claimed: an unexpected failure, a claimed failure not found, a replay that did not behave,
       a vacuous "holds" (no schedule reached the model's goal, or none touched shared state)
  2    bad input: a flag, a file, a field or a model (one line naming it)
  3    inconclusive: verify's --max-schedules ran out before the bounds were explored
  70   internal error: a bug of panicfuzz itself, not a finding (please report it with the traceback)
  130  interrupted (findings already saved are complete files)
  141  the reader of the output went away (`panicfuzz ... | head`); nothing else is printed"""


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (not the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="panicfuzz",
        description=(
            "Search the schedules and interrupt arrivals of Linux panic/stop/crash protocol models "
            "for deadlocks, livelocks and broken invariants; shrink each failure to a minimal "
            "reproducer, draw it as a CPU-column timeline, save it, and replay it forever after."
        ),
        epilog=(
            "examples:\n"
            "  panicfuzz list\n"
            "  panicfuzz fuzz --max-schedules 300\n"
            "  panicfuzz show corpus/hpet/mainline/deadlock-b0baa83d5539.json --format mail\n"
            "  panicfuzz replay corpus/hpet/mainline/*.json --variant panic-cpu-check\n\n"
            + EXIT_CODES
            + "\n\nJSON output (--json) is documented in docs/json.md; shell completion: see README.\n\n"
            "environment: PANICFUZZ_STEP_BUDGET=S (default 10): seconds a model's local code may run between two "
            "schedule points before the watchdog reports it as a model error (stuck at file:line)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"panicfuzz {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in commands.modules():
        module.add_parser(sub)
    for s in sub.choices.values():
        loud = s.add_mutually_exclusive_group()
        loud.add_argument("-q", "--quiet", action="store_true", help="print only failures and the totals")
        loud.add_argument("-v", "--verbose", action="store_true", help="also report progress and details on stderr")
        if s.epilog is None or "exit status" not in (s.description or "") + s.epilog:
            s.epilog = ((s.epilog + "\n\n") if s.epilog else "") + EXIT_CODES
            s.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, a usage error (already printed)
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.func(args)
    except (UsageError, corpus.CorpusError) as e:
        print(f"panicfuzz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("panicfuzz: interrupted (saved findings are complete files)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`panicfuzz ... | head`): stop quietly, as a Unix tool does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE
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
