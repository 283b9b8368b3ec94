"""`panicfuzz show`: draw a saved case's timeline, for a terminal, a mail, a web page."""

from __future__ import annotations

import argparse

from ..render import dumps, failure_json
from ..timeline import FORMATS, MAIL, timeline_of
from ._common import add_timeline_options, drawing, load_cases
from .replay import replay

ORDER = 35
SCHEMA = "panicfuzz.show/1"


def add_parser(sub) -> None:
    s = sub.add_parser(
        "show",
        help="draw a saved case's timeline (text, mail, markdown, html, svg)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Replay each saved case (on --variant if given) and draw its timeline: one column per CPU, function "
            "entries indented, interrupt entry (>) and return (<), injected events (===) and preemptions (---) "
            "across every column, an interrupt left pending by a mask in parentheses where it becomes pending. "
            f"Formats: text (any --width; long cells wrap), mail (at most {MAIL} columns, plain ASCII, ready to "
            "paste into a mail to LKML), markdown (a table for an issue or a review), html and svg (a colour page "
            "or image, via rich). --steps adds each row's step number and virtual time."
        ),
        epilog="examples:\n  panicfuzz show corpus/hpet/mainline/deadlock-b0baa83d5539.json --format mail\n"
        "  panicfuzz show corpus/hpet/mainline/deadlock-b0baa83d5539.json --format svg > hpet.svg",
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    s.add_argument("--variant", help="replay the case on this variant instead of its own")
    s.add_argument("--format", choices=FORMATS, default="text", help="output format (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print the timeline lines and the outcome as JSON (docs/json.md)")
    add_timeline_options(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = []
    for path, data, model_cls, trace in load_cases(args.files, args.variant):
        variant = args.variant or data["variant"]
        result, _ = replay(path, model_cls, variant, data, trace)
        drawn = timeline_of(model_cls, variant, result, fmt=args.format, **drawing(args))
        if args.json:
            out.append({"file": str(path), "variant": variant, "format": args.format, "failure": failure_json(result), "timeline": drawn.splitlines()})
        else:
            print(drawn if len(args.files) == 1 else f"{path}:\n\n{drawn}\n")
    if args.json:
        print(dumps({"schema": SCHEMA, "cases": out}))
    return 0
