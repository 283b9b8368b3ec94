"""`panicfuzz corpus migrate`: re-sign saved cases after an engine or model change."""

from __future__ import annotations

import argparse
import json

from ..migrate import migrate
from ._common import load_cases

ORDER = 45


def add_parser(sub) -> None:
    s = sub.add_parser(
        "corpus",
        help="maintain a corpus (migrate)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Maintain saved corpus cases.",
    )
    commands = s.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    m = commands.add_parser(
        "migrate",
        help="recompute signatures, file names and event logs after an engine or model change",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Replay each case on its variant. One that still fails with the recorded kind is re-recorded in "
            "place: its signature, file name, message, event-log digest, timeline and size are recomputed, its "
            "trace is kept. One that no longer fails that way is reported and left untouched.\n\n"
            "exit status: 0 when every case reproduces, 1 when some no longer do."
        ),
        epilog="example:\n  panicfuzz corpus migrate corpus/*/*/*.json",
    )
    m.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    m.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    m.add_argument("--json", action="store_true", help="print one JSON object per file")
    m.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    done = [migrate(path, data, model_cls, dry_run=args.dry_run) for path, data, model_cls, _ in load_cases(args.files)]
    if args.json:
        rows = [
            {
                "file": str(d.path),
                "new_file": None if d.new_path is None else str(d.new_path),
                "old_signature": d.old_signature,
                "new_signature": d.new_signature,
                "changed": d.changed,
                "reproduces": d.new_path is not None,
                "reason": d.reason,
            }
            for d in done
        ]
        print(json.dumps(rows, indent=1))
    else:
        for d in done:
            if d.new_path is None:
                print(f"NOT REPRODUCED {d.path}: {d.reason} (left as it is)")
            elif d.new_path != d.path:
                print(f"renamed   {d.path} -> {d.new_path.name}")
            elif d.changed:
                print(f"updated   {d.path}")
            else:
                print(f"unchanged {d.path}")
        lost = sum(d.new_path is None for d in done)
        print(f"{len(done)} cases: {len(done) - lost} reproduce, {lost} no longer reproduce" + (" (dry run)" if args.dry_run else ""))
    return 1 if any(d.new_path is None for d in done) else 0
