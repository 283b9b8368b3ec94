"""What a running campaign shows: a rich live table on a terminal, one timestamped line per unit off it.

New findings get a line of their own either way.
"""

from __future__ import annotations

import datetime
import sys
import time
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .campaign import MAX_BOUND, Campaign, Event, Progress, _duration, now
from .report import coverage_of


class View:
    """Feeds on the campaign's events; `live` picks the table (a TTY) or the log lines."""

    def __init__(self, live: bool, out: TextIO = sys.stdout):
        self.out = out
        self.console = Console(file=out)
        self.live = Live(console=self.console, auto_refresh=False, transient=False) if live else None
        self.coverage: dict[str, str] = {}
        self.last_draw = 0.0

    def __enter__(self) -> View:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def say(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.out, flush=True)

    def event(self, c: Campaign, ev: Event) -> None:
        p = c.state.progress[ev.key]
        cov = coverage_of([p]).values()
        if cov:
            lines = 100 * sum(f.executed for f in cov) / max(1, sum(f.statements for f in cov))
            branches = 100 * sum(f.taken for f in cov) / max(1, sum(f.branches for f in cov))
            self.coverage[ev.key] = f"{lines:.0f}/{branches:.0f}%"
        for kind, sig, path in ev.new_findings:
            self.say(f"{now()} NEW {kind} {sig} in {ev.key} (seed {ev.unit.seed}) -> {path}")
        if self.live is None and not ev.partial:
            self.say(_line(c, ev))
        self.tick(c, force=True)

    def tick(self, c: Campaign, force: bool = False) -> None:
        if self.live is None or (not force and time.monotonic() - self.last_draw < 1.0):
            return
        self.last_draw = time.monotonic()
        self.live.update(self._table(c), refresh=True)

    def _table(self, c: Campaign) -> Group:
        session = time.monotonic() - c.started
        rate = c.done_schedules / session if session > 0 else 0.0
        left = ""
        if c.deadline is not None:
            left = f", {_duration(max(0.0, c.deadline - time.monotonic()))} left"
        elif c.max_schedules is not None and rate > 0:
            left = f", about {_duration(max(0, c.max_schedules - c.done_schedules) / rate)} left"
        stopping = " - stopping (in-flight units finishing)" if c.stop_signal is not None else ""
        head = Text(
            f"panicfuzz campaign: {rate:.0f} schedules/s, {c.in_flight()} of {c.executor.workers} workers busy "
            f"({c.executor.where}), {_duration(session)} elapsed{left}{stopping}"
        )
        t = Table(expand=False, pad_edge=False, caption="cov l/b: model lines/branches executed; new/kn: findings new to the corpus / known ones hit; since: the last new state, coverage or finding")
        t.add_column("variant", no_wrap=True)
        for col in ("sched", "/s", "states", "cov l/b", "new/kn", "since", "verified"):
            t.add_column(col, justify="right" if col != "verified" else "left", no_wrap=True)
        for key, p in c.state.progress.items():
            t.add_row(
                key,
                str(p.schedules) if p.units else "not run",
                f"{p.schedules / p.seconds:.0f}" if p.seconds else "-",
                str(len(p.states)),
                self.coverage.get(key, "-"),
                "{}/{}".format(*p.new_known()),
                _since(p),
                _verified(p),
            )
        return Group(head, t)


def _verified(p: Progress) -> str:
    if p.claim["expected"] != "holds":
        return ""
    bound = p.verify["bound"]
    trying = f"try K=E={p.verify['next']}" if p.verify["schedules"] and p.verify["next"] <= MAX_BOUND else ""
    if bound is None:
        return trying or "-"
    return f"K={bound[0]} E={bound[1]}" + (f", {trying}" if trying else "")


def _since(p: Progress) -> str:
    if p.last_new is None:
        return "-"
    then = datetime.datetime.strptime(p.last_new, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    m, sec = divmod(int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def _line(c: Campaign, ev: Event) -> str:
    u = ev.unit
    what = f"{u.kind} seed {u.seed}" if u.kind == "search" else f"verify K=E={u.seed}"
    if ev.lost:
        return f"{now()} {ev.key} {what}: lost with its worker (will run again)"
    session = time.monotonic() - c.started
    rate = c.done_schedules / session if session > 0 else 0.0
    return (
        f"{now()} {ev.key} {what}: {ev.schedules} schedules, +{ev.new_states} states, +{ev.new_coverage} lines/branches, "
        f"{len(ev.new_findings)} new finding(s), {ev.known_hits} known hit(s); session {c.done_schedules} schedules, {rate:.0f}/s"
    )

