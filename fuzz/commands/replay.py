"""`panicfuzz replay`: re-run saved corpus cases, on their variant or on a fix.

On the case's own variant the answer is "reproduced" (the same failure, an
identical event log) or not. On another variant ("does my fix survive?") it
is one of: "reproduced" (the fix fails the same way), "fails differently",
"survived the same schedule", or a weak survival: "survived, but the schedule
diverged at decision N (... no longer offered)", saying which injected events
were then never delivered. A weak survival never faced the bad schedule, so
`--strict` counts it as a failure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import corpus
from ..render import dumps, replay_entry, replay_line, replay_totals
from ..run import RunResult, execute
from ..strategies import Replay
from ..timeline import timeline_of
from ..trace import Inject, StallFor, duration, parse_action
from ._common import add_timeline_options, drawing, load_cases

ORDER = 30
SCHEMA = "panicfuzz.replay/1"


def add_parser(sub) -> None:
    s = sub.add_parser(
        "replay",
        help="re-run saved corpus cases (on a fix too: does it survive every known bad schedule?)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Re-run each saved trace. Without --variant, check that the recorded failure reproduces with an "
            "identical event log. With --variant, answer for each case whether that variant survives the "
            "schedule: \"reproduced\" (it fails the same way), \"fails differently\", \"survived the same "
            "schedule\", or \"survived, but the schedule diverged at decision N (...)\": a weak survival, where "
            "the variant no longer offered the trace's next action, so the rest of the schedule was adapted and "
            "the bad event may never have been delivered. Ends with a totals line.\n\n"
            "exit status: 0 when every case behaved as checked (a weak survival counts as survived unless "
            "--strict), 1 otherwise, 2 bad input."
        ),
        epilog="examples:\n  panicfuzz replay corpus/hpet/mainline/*.json\n"
        "  panicfuzz replay corpus/hpet/mainline/*.json --variant panic-cpu-check --strict",
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    s.add_argument("--variant", help="replay against this variant of the file's protocol")
    s.add_argument("--model", metavar="REF", help="the model to run the cases on (default: the one each case records, found from here)")
    s.add_argument("--strict", action="store_true", help="a survival after a divergence (weak) is a failure")
    s.add_argument("--show", action="store_true", help="print every run's timeline (by default only failures')")
    s.add_argument("--json", action="store_true", help="print the answers as JSON (docs/json.md)")
    add_timeline_options(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cases = load_cases(args.files, args.variant, args.model)
    entries = []
    for path, data, model_cls, trace in cases:
        variant = args.variant or data["variant"]
        result, source = replay(path, model_cls, variant, data, trace)
        diverged = divergence(data, result, source)
        entry = replay_entry(path, data, variant, result, diverged, strict=args.strict)
        entries.append(entry)
        if args.json:
            continue
        if not entry["ok"] or not args.quiet:
            print(replay_line(entry))
        if args.show or (not entry["ok"] and not args.quiet and result.failed):
            print("\n" + timeline_of(model_cls, variant, result, **drawing(args)) + "\n")
    totals = replay_totals(entries, args.variant)
    if args.json:
        print(dumps({"schema": SCHEMA, "variant": args.variant, "strict": args.strict, "cases": entries, "totals": totals}))
    else:
        print(totals["line"])
    return 0 if all(e["ok"] for e in entries) else 1


def replay(path: Path, model_cls, variant: str, data: dict, trace: list) -> tuple[RunResult, Replay]:
    """Run a saved trace on `variant`: strictly on its own variant, leniently on another."""
    own = variant == data["variant"]
    source = Replay(trace) if own else Replay(trace, data["kinds"], strict=False)
    result = execute(model_cls, variant, source, logging=True)
    if own:
        corpus.check_replay(path, data, result)
    return result, source


def divergence(data: dict, result: RunResult, source: Replay) -> dict | None:
    """Where a lenient replay left the saved schedule, and what that cost, or None if it never did.

    It leaves it at the first action the variant no longer offers, or where the run ends while
    the schedule still had preemptions, switches or injections to come (ending sooner after only
    default steps is the same schedule); the injected events of the schedule that then never
    reached a handler are the bad events the variant did not face.
    """
    if source.diverged_at is not None:
        at, wanted = source.diverged_at, data["trace"][source.diverged_at]
    elif not source.strict and set(data["kinds"][source.pos :]) & set("psi"):
        at, wanted = source.pos, None
    else:
        return None
    missed = []
    for text in data["trace"]:
        action = parse_action(text)
        if isinstance(action, Inject) and not _delivered(result, action):
            missed.append(str(action))
    return {"decision": at, "not_offered": wanted, "not_delivered": missed}


def _delivered(result: RunResult, action: Inject) -> bool:
    """Did `action`'s event reach a handler in `result` (on its CPU, or anywhere for a broadcast)? A stall: did it begin?"""
    if isinstance(action, StallFor):
        return any(cpu == action.cpu and text.startswith(f"stalls for {duration(action.ns)} ({action.event})") for _, cpu, _, text in result.log)
    return any(
        text.startswith(f"> {action.event} ") and (action.cpu is None or cpu == action.cpu)
        for _, cpu, _, text in result.log
    )
