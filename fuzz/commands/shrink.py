"""`panicfuzz shrink`: minimise saved corpus cases in place."""

from __future__ import annotations

import argparse

from .. import corpus, scenarios
from ..render import dumps, shrink_text
from ..run import RunResult, execute
from ..search import Finding
from ..strategies import Replay
from ..timeline import timeline_of
from ..trace import Size
from ._common import at_least, load_cases

ORDER = 60
SCHEMA = "panicfuzz.shrink/1"


def add_parser(sub) -> None:
    s = sub.add_parser(
        "shrink",
        help="minimise saved corpus cases in place",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Replay each saved case, then shrink it with the trace passes (drop injected events, turn preemptions "
            "into default steps, delta-debug segments, move switches, cut the tail, renumber symmetric CPUs) and a "
            "bounded exhaustive check that no schedule with fewer preemptions or injected events fails the same "
            "way. A smaller reproducer replaces the file atomically (same signature, so same name), with the "
            "before/after sizes appended to its shrink history and the useful/useless pass counts; a case with "
            "no smaller reproducer keeps its trace, and gains `shrink.minimal: true` once the check proves it. "
            "Order of \"smaller\": fewer preemptions, then injected events, then other switches, then steps.\n\n"
            "exit status: 0 when every case reproduced (shrunk or not), 1 when one did not reproduce (left "
            "unchanged), 2 bad input."
        ),
        epilog="example:\n  panicfuzz shrink corpus/hpet/mainline/*.json",
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    s.add_argument("--max-calls", type=at_least(1), default=2000, metavar="N", help="most candidate runs of the passes per case (default: %(default)s)")
    s.add_argument(
        "--proof-budget",
        type=at_least(0),
        default=5000,
        metavar="N",
        help="most runs of the exhaustive check that no schedule with fewer preemptions/injected events fails the same way "
        "(default: %(default)s; `fuzz` uses 1000 to stay quick)",
    )
    s.add_argument("--json", action="store_true", help="print the results as JSON (docs/json.md)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from panicfuzz.shrinkers import shrink

    cases = load_cases(args.files)
    for path, *_ in cases:
        corpus.check_root(path.parent)
    results = []
    bad = 0
    for path, data, model_cls, trace in cases:
        variant = data["variant"]
        saved_sig = data["failure"]["signature"]
        found = execute(model_cls, variant, Replay(trace), logging=True)
        corpus.check_replay(path, data, found)
        if found.signature != saved_sig or found.log_digest() != data["event_log_sha256"]:
            bad += 1
            got = found.signature or "no failure"
            why = f"replay gives {got}, not {saved_sig}" if got != saved_sig else "the event log differs"
            entry = {"file": str(path), "reproduced": False, "error": why}
            results.append(entry)
            if not args.json:
                print(f"{path}: NOT reproduced identically ({why}); left unchanged")
            continue

        def run_one(decisions, model_cls=model_cls, variant=variant) -> RunResult:
            return execute(model_cls, variant, decisions)

        shrunk, report = shrink(run_one, found, model=model_cls, max_calls=args.max_calls, exhaustive_budget=args.proof_budget)
        before = found.size
        changed = shrunk.size < before
        if changed:
            replayed = execute(model_cls, variant, Replay(shrunk.trace), logging=True)
            old = data.get("shrink", {})
            finding = Finding(
                protocol=model_cls.name,
                variant=variant,
                result=replayed,
                first=Size(**_size_args(old.get("before", before.as_dict())), trace=()),
                strategy=data.get("found", {}).get("strategy", "?"),
                seed=data.get("found", {}).get("seed", 0),
                schedules=data.get("found", {}).get("schedules", 0),
                seconds=data.get("found", {}).get("seconds", 0.0),
                shrink_seconds=report.seconds,
                shrink_report=report,
                scenario=scenarios.scenario_of(model_cls),
            )
            new = corpus.record(finding, model_cls, timeline_of(model_cls, variant, replayed))
            new["found"] = data.get("found", new["found"])
            history = list(old.get("history", []))
            history.append(
                {"command": "panicfuzz shrink", "before": before.as_dict(), "after": shrunk.size.as_dict(), "seconds": report.seconds}
            )
            new["shrink"]["history"] = history
            new["shrink"]["passes"] = report.as_dict()
            corpus.write_atomic(path, new)
        elif report.minimal and not data.get("shrink", {}).get("minimal"):
            data.setdefault("shrink", {})["minimal"] = True  # the same case, now proven minimal
            corpus.write_atomic(path, data)
        entry = {
            "file": str(path),
            "reproduced": True,
            "changed": changed,
            "before": before.as_dict(),
            "after": shrunk.size.as_dict(),
            "minimal": report.minimal,
            "seconds": report.seconds,
            "passes": report.as_dict(),
        }
        results.append(entry)
        if not args.json and not args.quiet:
            print(shrink_text(path, before, shrunk.size, changed, report))
    if args.json:
        print(dumps({"schema": SCHEMA, "cases": results}))
    return 1 if bad else 0


def _size_args(d: dict) -> dict:
    return {"preemptions": d["preemptions"], "injected": d["injected_events"], "switches": d.get("switches", 0), "steps": d["steps"]}
