"""`panicfuzz diff`: two runs side by side from their first divergence."""

from __future__ import annotations

import argparse
import itertools

from ..errors import UsageError
from ..render import diff_text, dumps, failure_json
from ._common import add_timeline_options, drawing, load_cases
from .replay import replay

ORDER = 36
SCHEMA = "panicfuzz.diff/1"
CONTEXT = 3  # rows shown before the first divergence


def add_parser(sub) -> None:
    s = sub.add_parser(
        "diff",
        help="two runs side by side from their first divergence (a case on two variants, or two cases)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Replay A and B and draw them side by side from the first event where their logs differ, with "
            f"{CONTEXT} rows of common context: either one case on its own variant and on --variant (what does "
            "my fix do differently?), or two cases (each on its own variant, or both on --variant). Names the "
            "first decision where the schedules differ too."
        ),
        epilog="examples:\n  panicfuzz diff corpus/hpet/mainline/deadlock-b0baa83d5539.json --variant panic-cpu-check\n"
        "  panicfuzz diff corpus/hpet/mainline/deadlock-b0baa83d5539.json corpus/hpet/mainline/deadlock-e7599f253a99.json",
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="one corpus file (with --variant) or two")
    s.add_argument("--variant", help="with one file: the variant to compare with the case's own; with two: run both on it")
    s.add_argument("--json", action="store_true", help="print where the runs diverge as JSON (docs/json.md)")
    add_timeline_options(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if len(args.files) > 2 or (len(args.files) == 1 and not args.variant):
        raise UsageError("diff compares two runs: give one file and --variant, or two files")
    cases = load_cases(args.files, args.variant)
    if len(cases) == 1:
        (path, data, model_cls, trace), variants = cases[0], [cases[0][1]["variant"], args.variant]
        sides = [(path, data, model_cls, trace, v) for v in variants]
    else:
        sides = [(p, d, m, t, args.variant or d["variant"]) for p, d, m, t in cases]
    runs = []
    for path, data, model_cls, trace, variant in sides:
        result, _ = replay(path, model_cls, variant, data, trace)
        runs.append((str(path), model_cls, variant, result))
    (_, _, _, a), (_, _, _, b) = runs
    entry = _first(a.log, b.log)
    decision = _first([str(x) for x in a.trace], [str(x) for x in b.trace])
    doc = {
        "schema": SCHEMA,
        "runs": [{"file": p, "variant": v, "failure": failure_json(r)} for p, _, v, r in runs],
        "first_different_entry": entry,
        "first_different_decision": decision,
        "identical": entry is None and decision is None,
    }
    if args.json:
        print(dumps(doc))
    else:
        print(diff_text(doc, runs, max(0, (entry or 0) - CONTEXT), **drawing(args)))
    return 0


def _first(a, b) -> int | None:
    """The first index where the sequences differ (one ending early counts), or None."""
    for i, (x, y) in enumerate(itertools.zip_longest(a, b)):
        if x != y:
            return i
    return None
