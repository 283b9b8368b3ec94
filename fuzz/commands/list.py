"""`panicfuzz list`: every visible model and variant with its claim, source and origin."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import loader
from ..render import dumps
from ..scenarios import declared

ORDER = 10


def add_parser(sub) -> None:
    s = sub.add_parser(
        "list",
        help="list protocols, variants and their expected outcomes",
        description=(
            "List every model visible from here with its variants, expected outcomes, parameters and kernel/LKML "
            "source: the shipped ones, those installed distributions register (entry point group panicfuzz.models) "
            "and those of [tool.panicfuzz] models in the nearest pyproject.toml, each marked by where it comes from. "
            "A model that does not load is reported on stderr (exit 2) and the others are listed."
        ),
    )
    s.add_argument("--json", action="store_true", help="print a JSON list of {protocol, origin, ref, variant, expected, expected_kind, source, summary, parameters}")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    entries = loader.catalogue()
    for e in entries:
        if e.error is not None or e.model is None:
            continue
        for v in e.model.variants:
            rows.append(
                {
                    "protocol": e.name,
                    "origin": e.origin,
                    "ref": e.ref,
                    "variant": v.name,
                    "expected": v.expected,
                    "expected_kind": v.kind,
                    "source": v.source or e.model.source,
                    "summary": v.summary,
                    "parameters": declared(e.model),
                }
            )
    broken = [e for e in entries if e.error is not None]
    for e in broken:
        print(f"panicfuzz: error: {e.error}", file=sys.stderr)
    if args.json:
        print(dumps(rows))
        return 2 if broken else 0
    table = Table(title="panicfuzz protocols and variants")
    for col in ("protocol", "variant", "expected", "summary", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        expected = r["expected"] + (f" ({r['expected_kind']})" if r["expected_kind"] else "")
        where = "" if r["origin"] == "shipped" else f"\n[dim]{escape(r['origin'])}: {escape(r['ref'])}[/dim]"
        cells = (r["protocol"], r["variant"], expected, r["summary"], r["source"])
        table.add_row(escape(cells[0]) + where, *map(escape, cells[1:]))
    Console().print(table)
    for e in entries:
        for p in declared(e.model) if e.error is None and e.model is not None else ():
            print(f"{e.name} parameter {p['name']} = {p['default']!r} (a search draws {p['values']}): {p['doc']}")
    return 2 if broken else 0
