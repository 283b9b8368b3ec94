"""`panicfuzz verify`: bounded exhaustive search, "holds within K and E" or a counterexample."""

from __future__ import annotations

import argparse
import sys

from .. import corpus
from ..claims import Claim, answers
from ..render import dumps, verdict_json, verify_text
from ..search import UNBOUNDED, verify
from ._common import CORPUS_HELP, MODEL_HELP, add_timeline_options, at_least, corpus_root, directory, drawing, model, progress, protocol_name, save, variants

ORDER = 50
SCHEMA = "panicfuzz.verify/1"


def add_parser(sub) -> None:
    s = sub.add_parser(
        "verify",
        help="prove a variant within preemption and event bounds (bounded exhaustive search)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Explore EVERY schedule of PROTOCOL's variant with at most K preemptions (a switch away from a CPU "
            "that could still run) and E injected events, depth first, pruning a machine state already explored "
            "with at least the same remaining budget, and skipping an injected event where it only commutes with "
            "steps of other CPUs (partial-order reduction; --no-reduction turns it off). The answer is either a counterexample (shrunk, printed and "
            "saved like a `fuzz` finding) or \"holds within K preemptions and E injected events\", with the "
            "number of schedules run and of distinct states seen. Bugs that need more preemptions or events than "
            "the bounds are not seen: raise the bounds to strengthen the claim (cost grows roughly as "
            "(decisions)^K); when no alternative was left out for the bounds, they were not binding and the answer "
            "says so: that is the whole state space. --complete drops both bounds and explores the whole state "
            "space directly. Hang and livelock verdicts depend on step counts the pruning ignores, so one may be "
            "missed; deadlocks, invariant failures and model errors are complete within the bounds.\n\n"
            "exit status: 0 every variant's answer matches its model's claim (holds, or a counterexample of the "
            "claimed kind), 1 one does not, 3 none contradicts its claim but --max-schedules ran out before the "
            "bounds were explored, 2 bad input."
        ),
        epilog="examples:\n  panicfuzz verify hpet --variant panic-cpu-check --preemptions 2 --events 2\n"
        "  panicfuzz verify console --variant v6.9 --complete\n"
        "  panicfuzz verify hpet --preemptions 1 --json",
    )
    s.add_argument("protocol", type=protocol_name, help=MODEL_HELP)
    s.add_argument("--variant", help="variant name; default: every variant of the protocol")
    s.add_argument("--preemptions", type=at_least(0), default=2, metavar="K", help="preemption bound (default: %(default)s)")
    s.add_argument("--events", type=at_least(0), metavar="E", help="injected-event bound, stalls included (default: the same as K)")
    s.add_argument(
        "--complete",
        action="store_true",
        help="no preemption or event bound: explore the whole state space, each state once (replaces -K/-E)",
    )
    s.add_argument("--max-schedules", type=at_least(1), metavar="N", help="give up (inconclusive) after N schedules; default: no limit")
    s.add_argument(
        "--no-reduction",
        dest="reduce",
        action="store_false",
        help="turn partial-order reduction off: the same answer from more schedules (for comparison)",
    )
    s.add_argument("--all", action="store_true", help="keep exploring after a counterexample: every distinct failure within the bounds")
    s.add_argument("--corpus", type=directory, metavar="DIR", help=f"where counterexamples are saved {CORPUS_HELP}")
    s.add_argument("--json", action="store_true", help="print the report as JSON (docs/json.md) instead of text")
    add_timeline_options(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    events = args.preemptions if args.events is None else args.events
    model_cls = model(args.protocol)
    jobs = variants(model_cls, args.variant)
    root = corpus_root(args.corpus)
    corpus.check_root(root)
    out = []
    for variant in jobs:
        files: list[str] = []  # each finding is saved the moment it is shrunk: an interrupt loses none
        with progress(not args.json and sys.stderr.isatty(), f"verify {model_cls.name}/{variant}", args.max_schedules) as on_progress:
            verdict = verify(
                model_cls,
                variant,
                preemptions=UNBOUNDED if args.complete else args.preemptions,
                events=UNBOUNDED if args.complete else events,
                max_schedules=args.max_schedules,
                first_only=not args.all,
                progress=on_progress,
                on_finding=lambda f: files.append(save(root, model_cls, f)),
                reduce=args.reduce,
            )
        expected = model_cls.variant_info(variant)
        judged = Claim.of(expected).judge((f.signature, answers(f.result.outcome)) for f in verdict.findings)
        as_expected = verdict.holds if expected.expected == "holds" else judged.ok
        out.append(verdict_json(verdict, files, as_expected))
        if not args.json and (not args.quiet or not as_expected):
            print(verify_text(model_cls, verdict, files, expected, as_expected, **drawing(args)))
    if args.json:
        print(dumps({"schema": SCHEMA, "variants": out}))
    if all(o["as_expected"] for o in out):
        return 0
    return 3 if all(o["as_expected"] or o["answer"] == "inconclusive" for o in out) else 1
