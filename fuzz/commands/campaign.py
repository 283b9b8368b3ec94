"""`panicfuzz campaign`: every variant round after round (overnight), resumable."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from panicfuzz import protocols

from .. import corpus
from ..errors import UsageError
from ..render import dumps
from ..search import STRATEGIES
from ._common import DEFAULT_CORPUS, model, save, variants

ORDER = 40


def add_parser(sub) -> None:
    s = sub.add_parser(
        "campaign",
        help="fuzz every variant round after round (overnight), resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Cycle through every variant of the given protocols (all by default), one search round each with "
            "the next seed, until the budget is spent. Progress is saved after every round (atomically) in the "
            "state file, so an interrupted campaign resumes where it stopped when run again; findings are saved "
            "to the corpus as they are found. Ends with one line per variant: Observation <protocol>/<variant> "
            "Never|Sometimes <findings> <schedules> and whether that matches the model's claim.\n\n"
            "exit status: 0 when every variant behaved as claimed, 1 otherwise."
        ),
    )
    s.add_argument("protocols", nargs="*", metavar="PROTOCOL", help="protocols to include (default: all)")
    s.add_argument("--max-schedules", type=int, metavar="N", help="total schedule budget of this invocation")
    s.add_argument("--minutes", type=float, metavar="M", help="stop starting rounds after M minutes of wall time")
    s.add_argument("--round-schedules", type=int, default=500, metavar="N", help="schedules per round (default: %(default)s)")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="DIR", help="where findings are saved (default: %(default)s)")
    s.add_argument("--state", metavar="FILE", help="campaign state file (default: CORPUS/.campaign.json)")
    s.add_argument("--json", action="store_true", help="print the observations as JSON")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..campaign import CampaignError, Job, load_state, observation, run_campaign

    if args.round_schedules < 1:
        raise UsageError(f"--round-schedules must be at least 1, not {args.round_schedules}")
    if args.max_schedules is None and args.minutes is None:
        raise UsageError("give a budget: --max-schedules N and/or --minutes M")
    root = Path(args.corpus)
    corpus.check_root(root)
    state = Path(args.state) if args.state else root / ".campaign.json"
    jobs = []
    for name in args.protocols or protocols.names():
        model_cls = model(name)
        jobs += [(model_cls, Job(name, v)) for v in variants(model_cls, None)]
    try:
        load_state(state, [j for _, j in jobs])
    except CampaignError as e:
        raise UsageError(str(e)) from None
    by_key = {j.key: m for m, j in jobs}

    def on_round(job, report) -> None:
        for f in report.findings:
            path = save(root, by_key[job.key], f)
            print(f"{job.key}: new {f.result.outcome.kind} {f.signature} (seed {report.seed}) -> {path}",
                  file=sys.stderr if args.json else sys.stdout, flush=True)
        if not args.json:
            print(f"{job.key}: round {job.rounds} seed {report.seed}: {report.schedules} schedules, "
                  f"{len(report.findings)} new finding(s)", file=sys.stderr, flush=True)

    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    try:
        run_campaign(
            jobs,
            state_path=state,
            strategy=args.strategy,
            round_schedules=args.round_schedules,
            max_schedules=args.max_schedules,
            deadline=deadline,
            on_round=on_round,
        )
    except KeyboardInterrupt:
        print(f"panicfuzz: interrupted; progress up to the last finished round is in {state}", file=sys.stderr)
    lines = [observation(m, j) for m, j in jobs]
    if args.json:
        print(dumps([{"observation": line, "as_expected": ok} for line, ok in lines]))
    else:
        print("\n".join(line for line, _ in lines))
    return 0 if all(ok for _, ok in lines) else 1
