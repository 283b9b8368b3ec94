"""`panicfuzz list`: every visible model and variant with its claim, source and origin."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import loader
from ..render import claim_text, dumps, plain_table
from ..scenarios import declared

ORDER = 10
SCHEMA = "panicfuzz.list/1"


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
    s.add_argument("--json", action="store_true", help="print the variants as JSON (docs/json.md)")
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
                    "must": list(v.must),
                    "must_not": list(v.must_not),
                    "source": v.source or e.model.source,
                    "summary": v.summary,
                    "parameters": declared(e.model),
                }
            )
    broken = [e for e in entries if e.error is not None]
    for e in broken:
        print(f"panicfuzz: error: {e.error}", file=sys.stderr)
    if args.json:
        print(dumps({"schema": SCHEMA, "variants": rows}))
        return 2 if broken else 0
    if args.quiet:
        print("\n".join(f"{r['protocol']} {r['variant']}" for r in rows))
        return 2 if broken else 0
    claims = [claim_text({"expected": r["expected"], "kind": r["expected_kind"], "must": r["must"], "must_not": r["must_not"]}) for r in rows]
    head = ("protocol", "variant", "claim", "summary", "source")
    if not sys.stdout.isatty():  # a pipe: whole lines, never a name broken across two
        table = [(_named(r), r["variant"], c, r["summary"], r["source"]) for r, c in zip(rows, claims)]
        print("\n".join(plain_table(head, table)))
    else:
        out = Table(title="panicfuzz protocols and variants")
        for col in head:
            out.add_column(col, overflow="fold", no_wrap=col in ("protocol", "variant", "claim"))
        for r, c in zip(rows, claims):
            where = "" if r["origin"] == "shipped" else f"\n[dim]{escape(r['origin'])}: {escape(r['ref'])}[/dim]"
            cells = (r["protocol"], r["variant"], c, r["summary"], r["source"])
            out.add_row(escape(cells[0]) + where, *map(escape, cells[1:]))
        Console().print(out)
    for e in entries:
        for p in declared(e.model) if e.error is None and e.model is not None else ():
            print(f"{e.name} parameter {p['name']} = {p['default']!r} (a search draws {p['values']}): {p['doc']}")
    return 2 if broken else 0


def _named(row: dict) -> str:
    """A protocol's name, with where it comes from unless it is shipped."""
    return row["protocol"] if row["origin"] == "shipped" else f"{row['protocol']} ({row['origin']}: {row['ref']})"
