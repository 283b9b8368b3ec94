"""`panicfuzz report`: the campaign report (markdown and HTML) from a corpus's campaign state, running or not."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import report
from ..campaign import CampaignError, Lock, campaign_dir, read_state
from ._common import DEFAULT_CORPUS
from .campaign import state_path

ORDER = 45


def add_parser(sub) -> None:
    s = sub.add_parser(
        "report",
        help="write the campaign report (markdown and HTML) from a corpus's campaign state, running or not",
        description="Render CORPUS/.campaign/report.md and report.html from the campaign state: verdicts, findings with "
        "timelines, verification bounds and model coverage. Works while a campaign runs.",
    )
    s.add_argument("corpus", nargs="?", default=DEFAULT_CORPUS, metavar="CORPUS", help="corpus directory (default: %(default)s)")
    s.add_argument("--state", metavar="FILE", help="campaign state file (default: CORPUS/.campaign/state)")
    s.add_argument("--output", metavar="DIR", help="where to write report.md and report.html (default: CORPUS/.campaign)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.corpus)
    path = state_path(root, args.state)
    if not path.exists():
        raise CampaignError(f"{path}: no campaign state (run `panicfuzz campaign` on this corpus first)")
    state = read_state(path)
    holder = Lock(root).holder()
    running = None if holder is None else f"campaign running (pid {holder})"
    md, html_path = report.write(report.render(state, root, running=running), Path(args.output) if args.output else campaign_dir(root))
    print(f"report: {md} and {html_path}")
    return 0
