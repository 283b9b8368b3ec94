"""`panicfuzz list`: every protocol and variant with its claim and source."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from panicfuzz import protocols

from ..render import claim_text, dumps, plain_table
from ..scenarios import declared

ORDER = 10
SCHEMA = "panicfuzz.list/1"


def add_parser(sub) -> None:
    s = sub.add_parser("list", help="list protocols, variants and their expected outcomes", description="List every protocol and variant with its expected outcome, failure kind and kernel/LKML source.")
    s.add_argument("--json", action="store_true", help="print the variants as JSON (docs/json.md)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in protocols.names():
        m = protocols.load(name)
        for v in m.variants:
            rows.append(
                {
                    "protocol": name,
                    "variant": v.name,
                    "expected": v.expected,
                    "expected_kind": v.kind,
                    "source": v.source or m.source,
                    "summary": v.summary,
                    "parameters": declared(m),
                }
            )
    if args.json:
        print(dumps({"schema": SCHEMA, "variants": rows}))
        return 0
    if args.quiet:
        print("\n".join(f"{r['protocol']} {r['variant']}" for r in rows))
        return 0
    table = [(r["protocol"], r["variant"], claim_text({"expected": r["expected"], "kind": r["expected_kind"]}), r["summary"], r["source"]) for r in rows]
    head = ("protocol", "variant", "claim", "summary", "source")
    if not sys.stdout.isatty():  # a pipe: whole lines, never a name broken across two
        print("\n".join(plain_table(head, table)))
    else:
        out = Table(title="panicfuzz protocols and variants")
        for col in head:
            out.add_column(col, overflow="fold", no_wrap=col in ("protocol", "variant", "claim"))
        for row in table:
            out.add_row(*row)
        Console().print(out)
    for name in dict.fromkeys(r["protocol"] for r in rows):
        for p in declared(protocols.load(name)):
            print(f"{name} parameter {p['name']} = {p['default']!r} (a search draws {p['values']}): {p['doc']}")
    return 0
