"""`panicfuzz replay`: re-run saved corpus cases, on their variant or on a fix."""

from __future__ import annotations

import argparse

from .. import corpus
from ..render import dumps, failure_json, replay_text
from ..run import execute
from ..strategies import Replay
from ._common import load_cases

ORDER = 30


def add_parser(sub) -> None:
    s = sub.add_parser(
        "replay",
        help="re-run saved corpus cases",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Re-run each saved trace. Without --variant, check that the recorded failure reproduces with an "
            "identical event log. With --variant, report whether that variant survives the schedule (\"does my "
            "fix survive every known bad schedule?\").\n\nexit status: 0 when every case behaved as checked, 1 otherwise."
        ),
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    s.add_argument("--variant", help="replay against this variant of the file's protocol")
    s.add_argument("--json", action="store_true", help="print one JSON object per file")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cases = load_cases(args.files, args.variant)
    results = []
    bad = 0
    for path, data, model_cls, trace in cases:
        saved_sig = data["failure"]["signature"]
        if args.variant is None or args.variant == data["variant"]:
            variant = data["variant"]
            result = execute(model_cls, variant, Replay(trace), logging=True)
            corpus.check_replay(path, data, result)
            reproduced = result.signature == saved_sig
            identical = reproduced and result.log_digest() == data.get("event_log_sha256")
            ok = reproduced and identical
            entry = {"file": str(path), "variant": variant, "reproduced": reproduced, "identical": identical}
        else:
            variant = args.variant
            source = Replay(trace, data["kinds"], strict=False)
            result = execute(model_cls, variant, source, logging=True)
            reproduced = result.signature == saved_sig
            ok = not result.failed
            entry = {
                "file": str(path),
                "variant": variant,
                "reproduced": reproduced,
                "identical": None,
                "survived": ok,
                "diverged_at": source.diverged_at,
            }
        entry["failure"] = failure_json(result)
        results.append(entry)
        bad += not ok
        if not args.json:
            print(replay_text(model_cls, variant, path, result, entry, ok))
    if args.json:
        print(dumps(results))
    return 1 if bad else 0
