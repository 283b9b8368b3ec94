"""`panicfuzz list`: every protocol and variant with its claim and source."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from panicfuzz import protocols

from ..render import dumps
from ..scenarios import declared

ORDER = 10


def add_parser(sub) -> None:
    s = sub.add_parser("list", help="list protocols, variants and their expected outcomes", description="List every protocol and variant with its expected outcome, failure kind and kernel/LKML source.")
    s.add_argument("--json", action="store_true", help="print a JSON list of {protocol, variant, expected, expected_kind, source, summary, parameters}")
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
        print(dumps(rows))
        return 0
    table = Table(title="panicfuzz protocols and variants")
    for col in ("protocol", "variant", "expected", "summary", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        expected = r["expected"] + (f" ({r['expected_kind']})" if r["expected_kind"] else "")
        table.add_row(r["protocol"], r["variant"], expected, r["summary"], r["source"])
    Console().print(table)
    for name in dict.fromkeys(r["protocol"] for r in rows):
        for p in declared(protocols.load(name)):
            print(f"{name} parameter {p['name']} = {p['default']!r} (a search draws {p['values']}): {p['doc']}")
    return 0
