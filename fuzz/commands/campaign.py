"""`panicfuzz campaign`: every variant on every core or a Dask cluster, overnight, resumable, with a report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from panicfuzz import protocols

from .. import corpus, report
from ..campaign import Campaign, Lock, Scheduler, campaign_dir, exit_code, load_state, reset_in_flight, resume_note, saved_signatures, verdicts
from ..campaign_view import View
from ..errors import UsageError
from ..executor import DaskPool, Executor, LocalPool
from ..model import Model
from ..render import dumps
from ..search import STRATEGIES
from ._common import DEFAULT_CORPUS, directory, model, positive_float, variants

ORDER = 40


def add_parser(sub) -> None:
    s = sub.add_parser(
        "campaign",
        help="fuzz every variant on every core (or a Dask cluster) overnight, resumable, with a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Search every variant of the given protocols (all by default; PROTOCOL/VARIANT for one) in units of "
            "(variant, seed, --round-schedules) on --workers local processes or on the Dask cluster at --scheduler. "
            "Fair first (every variant gets its first unit before any gets a second), then adaptive: a unit goes to "
            "the variant whose recent units found the most new end states, model lines/branches and failures per "
            "schedule, every 5th to the variant with the fewest schedules, every 4th to verifying a variant claimed "
            "to hold at growing bounds (verify K=E=1, 2, ...). Each finding is saved to CORPUS the moment its unit "
            "returns and the state (CORPUS/.campaign/state) after every unit, atomically: run the same command again "
            "to resume. Model coverage is measured by replaying under coverage.py the runs that reached a new state. "
            "On a terminal a live table shows each variant's progress; otherwise one timestamped line per unit. At "
            "the end the report is written to CORPUS/.campaign/report.md and report.html (`panicfuzz report` renders "
            "it any time) and one line per variant is printed: Observation <protocol>/<variant> Never|Sometimes "
            "<failure signatures> <schedules> against the model's claim, or \"not run\".\n\n"
            "SIGINT/SIGTERM: no new units; in-flight units get --grace seconds to finish, then are abandoned (a second "
            "signal abandons them at once); state and report saved. A second campaign on the same corpus is refused.\n\n"
            "exit status: 0 every variant that ran behaved as claimed, 1 one did not, 2 bad input or the corpus is "
            "held by another campaign, 130 stopped by SIGINT, 143 by SIGTERM."
        ),
        epilog=(
            "examples:\n"
            "  panicfuzz campaign --minutes 480                       # overnight, every core\n"
            "  panicfuzz campaign hpet kdump/mainline --max-schedules 20000\n"
            "  panicfuzz campaign --minutes 600 --scheduler tcp://head:8786   # on a Dask cluster\n"
            "  panicfuzz report"
        ),
    )
    s.add_argument("protocols", nargs="*", metavar="PROTOCOL", help="protocols (or PROTOCOL/VARIANT) to include (default: all)")
    s.add_argument("--max-schedules", type=int, metavar="N", help="total schedule budget of this invocation")
    s.add_argument("--minutes", type=positive_float, metavar="M", help="stop handing out units after M minutes of wall time")
    s.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: the cores this process may use)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the units on this Dask distributed scheduler's workers instead")
    s.add_argument("--round-schedules", type=int, default=500, metavar="N", help="schedules per search unit (default: %(default)s)")
    s.add_argument("--verify-schedules", type=int, default=20000, metavar="N", help="first budget of a verification unit, doubled when inconclusive (default: %(default)s)")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--corpus", type=directory, default=DEFAULT_CORPUS, metavar="DIR", help="where findings are saved (default: %(default)s)")
    s.add_argument("--state", metavar="FILE", help="campaign state file (default: CORPUS/.campaign/state)")
    s.add_argument("--grace", type=float, default=5.0, metavar="S", help="seconds in-flight units get to finish after SIGINT/SIGTERM (default: %(default)s)")
    s.add_argument("--no-coverage", action="store_true", help="do not measure model coverage")
    s.add_argument("--json", action="store_true", help="print the observations as JSON (the log goes to stderr)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--round-schedules", args.round_schedules), ("--verify-schedules", args.verify_schedules), ("--workers", args.workers), ("--max-schedules", args.max_schedules)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}")
    if args.max_schedules is None and args.minutes is None:
        raise UsageError("give a budget: --max-schedules N and/or --minutes M")
    selected = [pair for name in args.protocols or protocols.names() for pair in _select(name)]
    root = Path(args.corpus)
    corpus.check_root(root)
    return campaign(
        selected,
        root=root,
        state_file=args.state,
        workers=args.workers,
        scheduler=args.scheduler,
        max_schedules=args.max_schedules,
        minutes=args.minutes,
        round_schedules=args.round_schedules,
        verify_schedules=args.verify_schedules,
        strategy=args.strategy,
        coverage=not args.no_coverage,
        grace=args.grace,
        as_json=args.json,
    )


def campaign(
    selected: list[tuple[type[Model], str]],
    *,
    root: Path,
    state_file: str | None,
    workers: int | None,
    scheduler: str | None,
    max_schedules: int | None,
    minutes: float | None,
    round_schedules: int,
    verify_schedules: int,
    strategy: str,
    coverage: bool,
    grace: float,
    as_json: bool,
) -> int:
    """Run a campaign to its budget or a signal; save, write the report, print the verdicts."""
    with Lock(root):
        state = load_state(state_path(root, state_file), selected)
        view = View(live=not as_json and sys.stdout.isatty(), out=sys.stderr if as_json else sys.stdout)
        note = resume_note(state)
        reset_in_flight(state)
        executor: Executor = DaskPool(scheduler) if scheduler else LocalPool(workers or len(os.sched_getaffinity(0)))
        c = Campaign(
            state=state,
            root=root,
            executor=executor,
            scheduler=Scheduler(state, round_schedules, verify_schedules, strategy, coverage, masked=saved_signatures(root)),
            max_schedules=max_schedules,
            deadline=None if minutes is None else time.monotonic() + 60 * minutes,
            grace=grace,
            on_event=lambda c, ev: view.event(c, ev),
            on_tick=lambda c: view.tick(c),
            corpus_before=saved_signatures(root),
        )
        try:
            with view:
                view.say(note or f"campaign: {len(selected)} variants on {executor.workers} worker(s) ({executor.where}); state {state.path}")
                c.run()
        finally:
            executor.close()
            state.save(c.elapsed())
        if c.stop_signal is not None:
            lost = f"; {c.abandoned} unit(s) in flight abandoned (they run again next time)" if c.abandoned else ""
            print(f"panicfuzz: campaign stopped by signal {c.stop_signal}{lost}; progress saved in {state.path}", file=sys.stderr)
        md, html_path = report.write(report.render(state, root), campaign_dir(root))
        vs = verdicts(state)
        if as_json:
            observations = [{"variant": v.key, "observation": v.line, "as_expected": v.ok} for v in vs]
            print(dumps({"schema": "panicfuzz.campaign/1", "observations": observations}))
        else:
            print("\n".join(v.line for v in vs))
            print(f"report: {md} and {html_path}")
        return exit_code(c, vs)


def _select(name: str) -> list[tuple[type[Model], str]]:
    """The variants a PROTOCOL or PROTOCOL/VARIANT argument names."""
    try:
        model_cls = model(name)
    except UsageError:
        head, slash, variant = name.rpartition("/")
        if not slash:
            raise
        model_cls = model(head)
        return [(model_cls, v) for v in variants(model_cls, variant)]
    return [(model_cls, v) for v in variants(model_cls, None)]


def state_path(root: Path, given: str | None) -> Path:
    return Path(given) if given else campaign_dir(root) / "state"
