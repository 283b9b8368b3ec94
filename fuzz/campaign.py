"""Overnight campaigns: every selected variant, on every core or a Dask cluster, resumable.

One coordinator (this module, the only writer of the corpus and the state)
hands units of work (`work.Unit`: variant, seed, budget) to an executor
(`executor.LocalPool` or `executor.DaskPool`) and folds each result in the
moment it comes back: findings to the corpus, then the state, atomically.

Scheduling. Fair first: no variant gets a second unit before every selected
variant has had its first. Then adaptive: each variant's recent yield is
(1 + novelties) / (1 + schedules) over its last `RECENT` completed units,
a novelty being a new distinct end state, a newly covered model line or
branch, or a new failure signature (counted `FINDING_WEIGHT` times); the
next unit goes to the variant with the best yield, counting schedules still
in flight as spent. So a variant that keeps turning up new things keeps
getting budget and a saturated one gets less, but never none: every
`EXPLORE_EVERY`-th unit goes to the variant with the fewest schedules.
Every `VERIFY_EVERY`-th unit verifies a variant claimed to hold (`verify`
at bounds K = E = 1, 2, 3...): a complete verification raises the bound, an
inconclusive one is retried with twice the budget.

Seeds: a variant's search units get seeds 0, 1, 2, ...; the state records
the seeds completed and those in flight, so two units never share a
(variant, seed), and after a SIGKILL the units lost in flight are re-run
(they never completed) and nothing completed is run again.
"""

from __future__ import annotations

import datetime
import fcntl
import math
import os
import json
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs

from . import corpus
from .claims import Claim
from .errors import UsageError
from .executor import Executor
from .model import Model
from .modelcov import merge, model_dir
from .search import vacuity
from .work import SEARCH, VERIFY, Unit, model_ref

STATE_SCHEMA = 2
RECENT = 4
FINDING_WEIGHT = 10
EXPLORE_EVERY = 5
VERIFY_EVERY = 4
MAX_BOUND = 8

# Exit codes of an interrupted campaign (after it saved and wrote its report).
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class CampaignError(UsageError):
    """An unusable campaign state, or a corpus another campaign holds (one line, exit 2)."""


def campaign_dir(root: Path) -> Path:
    """CORPUS/.campaign: state, lock and nothing that looks like a corpus case (no *.json)."""
    return root / ".campaign"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the state ------------------------------------------------------------------------


@attrs.define
class Progress:
    """One variant's progress across every session of the campaign."""

    key: str
    ref: str
    claim: dict[str, Any]  # `panicfuzz.claims.Claim.as_dict()`
    model_dir: str
    units: int = 0
    schedules: int = 0
    seconds: float = 0.0  # worker wall time
    cpu: float = 0.0  # worker CPU time
    coverage_seconds: float = 0.0
    seeds_below: int = 0  # every seed below this is completed
    seeds_above: list[int] = attrs.field(factory=list)  # completed seeds >= seeds_below
    in_flight: list[int] = attrs.field(factory=list)  # seeds handed out, not completed (lost on a kill)
    states: list[str] = attrs.field(factory=list)
    coverage: dict[str, dict[str, list]] = attrs.field(factory=dict)
    findings: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    recent: list[list[int]] = attrs.field(factory=list)  # [schedules, novelties] of the last units
    last_new: str | None = None
    # Search schedules that reached the model's goal, and in which a CPU read or wrote shared
    # state (panicfuzz.search.vacuity); None: not counted (a state from before they were).
    reached: int | None = 0
    accessed: int | None = 0
    verify: dict[str, Any] = attrs.field(factory=lambda: {"bound": None, "next": 1, "budget": 0, "schedules": 0, "states": 0})

    def new_known(self) -> tuple[int, int]:
        """Findings new to the corpus, and known ones hit again."""
        new = sum(1 for f in self.findings.values() if f.get("new"))
        return new, sum(1 for f in self.findings.values() if not f.get("new") and f["hits"])

    def seed_done(self, seed: int) -> bool:
        return seed < self.seeds_below or seed in self.seeds_above

    def complete(self, seed: int) -> None:
        if seed in self.in_flight:
            self.in_flight.remove(seed)
        above = set(self.seeds_above) | {seed}
        while self.seeds_below in above:
            above.remove(self.seeds_below)
            self.seeds_below += 1
        self.seeds_above = sorted(above)

    def next_seed(self, taken: set[int]) -> int:
        seed = self.seeds_below
        while self.seed_done(seed) or seed in taken:
            seed += 1
        return seed


@attrs.define
class State:
    path: Path
    progress: dict[str, Progress]  # the selected variants
    others: dict[str, Any]  # variants in the file not selected this time: kept as they are
    sessions: int = 0
    earlier: float = 0.0  # coordinator wall time of the earlier sessions
    session: float = 0.0  # and of this one, as of the last save
    resumed: bool = False

    @property
    def elapsed(self) -> float:
        return self.earlier + self.session

    def save(self, session: float) -> None:
        self.session = session
        variants = dict(self.others)
        variants.update({k: _dump(p) for k, p in self.progress.items()})
        # Written after every unit: one line by the C encoder (an indented dump of the
        # coverage lists costs the coordinator more CPU than the units it waits for).
        data = {"schema": STATE_SCHEMA, "sessions": self.sessions, "elapsed": round(self.elapsed, 3), "variants": variants}
        corpus.write_atomic(self.path, data, indent=None)


def _dump(p: Progress) -> dict[str, Any]:
    d = attrs.asdict(p, recurse=False)  # the fields are plain JSON data already
    del d["key"]
    return d


_FIELDS: dict[str, Callable[[Any], bool]] = {
    "ref": lambda v: isinstance(v, str),
    "claim": lambda v: isinstance(v, dict) and v.get("expected") in ("holds", "fails"),
    "model_dir": lambda v: isinstance(v, str),
    "units": lambda v: _count(v),
    "schedules": lambda v: _count(v),
    "seconds": lambda v: _seconds(v),
    "cpu": lambda v: _seconds(v),
    "coverage_seconds": lambda v: _seconds(v),
    "seeds_below": lambda v: _count(v),
    "seeds_above": lambda v: isinstance(v, list) and all(_count(s) for s in v),
    "in_flight": lambda v: isinstance(v, list) and all(_count(s) for s in v),
    "states": lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
    "coverage": lambda v: isinstance(v, dict) and all(_file_cov(c) for c in v.values()),
    "findings": lambda v: isinstance(v, dict) and all(_finding(f) for f in v.values()),
    "recent": lambda v: isinstance(v, list) and all(isinstance(r, list) and len(r) == 2 and all(_count(x) for x in r) for r in v),
    "last_new": lambda v: v is None or isinstance(v, str),
    "reached": lambda v: v is None or _count(v),
    "accessed": lambda v: v is None or _count(v),
    "verify": lambda v: isinstance(v, dict)
    and (v.get("bound") is None or (isinstance(v["bound"], list) and len(v["bound"]) == 2 and all(_count(x) for x in v["bound"])))
    and all(_count(v.get(k)) for k in ("next", "budget", "schedules", "states")),
}


# Fields added to the state since its schema: absent in an older campaign's state, they start here.
_ADDED = {"reached": None, "accessed": None}


def _count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _seconds(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and v >= 0


def _file_cov(c: Any) -> bool:
    return isinstance(c, dict) and isinstance(c.get("lines"), list) and isinstance(c.get("arcs"), list)


def _finding(f: Any) -> bool:
    return isinstance(f, dict) and isinstance(f.get("kind"), str) and _count(f.get("hits")) and isinstance(f.get("first_seen"), str)


def load_state(path: Path, selected: list[tuple[type[Model], str]]) -> State:
    """The saved campaign with the selected variants' progress (validated; garbage names its field)."""
    fresh = {f"{m.name}/{v}": _fresh(m, v) for m, v in selected}
    if not path.exists():
        return State(path, fresh, {})
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CampaignError(f"{path}: cannot read campaign state: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise CampaignError(f"{path}: field 'schema' is {found!r}; this panicfuzz reads campaign state schema {STATE_SCHEMA}")
    if not isinstance(data.get("variants"), dict):
        raise CampaignError(f"{path}: field 'variants' must be an object")
    for field, ok in (("sessions", _count), ("elapsed", _seconds)):
        if not ok(data.get(field)):
            raise CampaignError(f"{path}: field '{field}' is {data.get(field)!r}, not a non-negative number")
    progress, others = {}, {}
    for key, saved in data["variants"].items():
        if not isinstance(saved, dict):
            raise CampaignError(f"{path}: field 'variants.{key}' must be an object")
        saved = data["variants"][key] = {**_ADDED, **saved}
        for field, ok in _FIELDS.items():
            if field not in saved:
                raise CampaignError(f"{path}: field 'variants.{key}.{field}' is missing")
            if not ok(saved[field]):
                raise CampaignError(f"{path}: field 'variants.{key}.{field}' has a bad value {_short(saved[field])}")
        if key in fresh:
            p = Progress(key=key, **{f: saved[f] for f in _FIELDS})
            p.ref, p.claim, p.model_dir = fresh[key].ref, fresh[key].claim, fresh[key].model_dir  # the model as loaded now
            progress[key] = p
        else:
            others[key] = saved
    resumed = bool(progress)
    progress = {k: progress.get(k, p) for k, p in fresh.items()}
    return State(path, progress, others, sessions=data["sessions"], earlier=data["elapsed"], resumed=resumed)


def read_state(path: Path) -> State:
    """Every variant of a saved state (for `panicfuzz report`), validated as `load_state` does."""
    try:
        keys = list(json.loads(path.read_text()).get("variants", {}))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
        raise CampaignError(f"{path}: cannot read campaign state: {e}") from None
    state = load_state(path, [])
    for key in keys:
        saved = state.others[key]
        state.progress[key] = Progress(key=key, **{f: saved[f] for f in _FIELDS})
    state.others = {}
    return state


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _fresh(model_cls: type[Model], variant: str) -> Progress:
    claim = model_cls.variant_info(variant)
    return Progress(
        key=f"{model_cls.name}/{variant}",
        ref=model_ref(model_cls),
        claim=Claim.of(claim).as_dict(),
        model_dir=str(model_dir(model_cls)),
    )


# -- the lock ------------------------------------------------------------------------------


class Lock:
    """CORPUS/.campaign/lock, held (flock) while a campaign runs; it names the holder's pid."""

    def __init__(self, root: Path):
        self.path = campaign_dir(root) / "lock"

    def __enter__(self) -> Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 64).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise CampaignError(
                f"{self.path.parent.parent}: another campaign (pid {holder}) is running on this corpus; "
                "wait for it, stop it, or give this one another --corpus (to add machines, add Dask workers)"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc) -> None:
        os.ftruncate(self._fd, 0)
        os.close(self._fd)

    def holder(self) -> str | None:
        """The pid of the campaign holding the lock now, or None."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 64).decode(errors="replace").strip() or "?"
        finally:
            os.close(fd)
        return None


# -- scheduling ----------------------------------------------------------------------------


@attrs.define
class Scheduler:
    """Which unit comes next (see the module docstring)."""

    state: State
    round_schedules: int
    verify_schedules: int
    strategy: str
    coverage: bool
    masked: dict[str, set[str]]  # per variant: signatures the searches skip (in the corpus, or found)
    handed: int = 0
    flight: dict[str, list[Unit]] = attrs.field(factory=dict)

    def fair_pending(self) -> bool:
        return any(p.units == 0 and not self.flight.get(k) for k, p in self.state.progress.items())

    def next(self, budget: int) -> Unit:
        """The next unit, given the schedules left to hand out."""
        progress = self.state.progress
        self.handed += 1
        fresh = [k for k, p in progress.items() if p.units == 0 and not self.flight.get(k)]
        if fresh:
            return self._search(fresh[0], budget)
        if self.handed % VERIFY_EVERY == 0 and (key := self._to_verify()):
            return self._verify(key, budget)
        if self.handed % EXPLORE_EVERY == 0:
            key = min(progress, key=lambda k: (self._spent(k), list(progress).index(k)))
        else:
            key = max(progress, key=lambda k: (self._yield(k), -self._spent(k)))
        return self._search(key, budget)

    def _spent(self, key: str) -> int:
        return self.state.progress[key].schedules + sum(u.budget for u in self.flight.get(key, ()))

    def _yield(self, key: str) -> float:
        p = self.state.progress[key]
        recent = p.recent[-RECENT:]
        flying = sum(u.budget for u in self.flight.get(key, ()))
        return (1 + sum(n for _, n in recent)) / (1 + sum(s for s, _ in recent) + flying)

    def _to_verify(self) -> str | None:
        candidates = [
            k
            for k, p in self.state.progress.items()
            if p.claim["expected"] == "holds"
            and p.verify["next"] <= MAX_BOUND
            and not any(u.kind == VERIFY for u in self.flight.get(k, ()))
        ]
        return min(candidates, key=lambda k: self.state.progress[k].verify["next"], default=None)

    def _search(self, key: str, budget: int) -> Unit:
        p = self.state.progress[key]
        taken = {u.seed for u in self.flight.get(key, ()) if u.kind == SEARCH}
        unit = Unit(
            ref=p.ref,
            key=key,
            kind=SEARCH,
            seed=p.next_seed(taken),
            budget=min(budget, self.round_schedules),
            strategy=self.strategy,
            known=tuple(sorted(self.masked.get(key, set()) | set(p.findings))),
            states=frozenset(p.states),
            coverage=self.coverage,
        )
        p.in_flight = sorted(set(p.in_flight) | {unit.seed})
        self.flight.setdefault(key, []).append(unit)
        return unit

    def _verify(self, key: str, budget: int) -> Unit:
        p = self.state.progress[key]
        k = p.verify["next"]
        want = max(p.verify["budget"], self.verify_schedules)
        # at most a VERIFY_EVERY-th of what is left: a short campaign is not all verification
        unit = Unit(ref=p.ref, key=key, kind=VERIFY, seed=k, budget=min(want, max(1, budget // VERIFY_EVERY)), bounds=(k, k))
        self.flight.setdefault(key, []).append(unit)
        return unit

    def landed(self, key: str, unit: Unit) -> None:
        self.flight[key].remove(unit)


# -- running ----------------------------------------------------------------------------


@attrs.frozen
class Event:
    """What one completed unit brought, for the log line and the live view."""

    key: str
    unit: Unit
    schedules: int
    new_states: int
    new_coverage: int
    new_findings: list[tuple[str, str, str]]  # (kind, signature, corpus path)
    known_hits: int
    lost: bool = False
    partial: bool = False  # a finding from a unit still running


@attrs.define
class Campaign:
    state: State
    root: Path
    executor: Executor
    scheduler: Scheduler
    max_schedules: int | None
    deadline: float | None  # time.monotonic()
    grace: float
    on_event: Callable[[Campaign, Event], None]
    on_tick: Callable[[Campaign], None] = lambda c: None
    corpus_before: dict[str, set[str]] = attrs.field(factory=dict)  # per variant: saved before this session
    started: float = attrs.field(factory=time.monotonic)
    done_schedules: int = 0  # this session
    stop_signal: int | None = None
    abandoned: int = 0

    def elapsed(self) -> float:
        """Wall time of this session."""
        return time.monotonic() - self.started

    def committed(self) -> int:
        return self.done_schedules + sum(u.budget for us in self.scheduler.flight.values() for u in us)

    def in_flight(self) -> int:
        return sum(len(us) for us in self.scheduler.flight.values())

    def run(self) -> None:
        """Hand out units until the budget is spent or a signal arrives; fold in each result."""
        stop_by: float | None = None
        self.state.sessions += 1
        events: list[Event] = []
        with _signals(self):
            while True:
                # Hand out first, so that workers are busy again while the state is written;
                # then one save covers the results just folded in and the seeds now in flight,
                # and only then are they reported (a reported unit is a saved unit).
                handed = 0
                while self.stop_signal is None and self.in_flight() < self.executor.workers and (budget := self._budget_left()) > 0:
                    self.executor.submit(self.scheduler.next(budget))
                    handed += 1
                if handed or events:
                    self.state.save(self.elapsed())
                for ev in events:
                    self.on_event(self, ev)
                events = []
                if self.stop_signal is not None and stop_by is None:
                    stop_by = time.monotonic() + self.grace
                if not self.in_flight():
                    break
                if stop_by is not None and time.monotonic() >= stop_by:
                    self.abandoned = self.in_flight()
                    self.executor.abandon()
                    for us in self.scheduler.flight.values():
                        us.clear()
                    break
                for unit, result in self.executor.wait(0.25):
                    events += self._land(unit, result)
                self.on_tick(self)
        self.state.save(self.elapsed())

    def _budget_left(self) -> int:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return 0
        if self.max_schedules is None:
            return 1 << 30
        return self.max_schedules - self.committed()

    def _found(self, key: str, records: list[dict[str, Any]], stamp: str) -> list[tuple[str, str, str]]:
        """Save findings to the corpus; the (kind, signature, path) of those new to it."""
        p, before = self.state.progress[key], self.corpus_before.get(key, set())
        new_findings = []
        for data in records:
            path, _ = corpus.save(self.root, data)
            sig, kind = data["failure"]["signature"], data["failure"]["kind"]
            is_new = sig not in p.findings and sig not in before
            if is_new:
                new_findings.append((kind, sig, str(path)))
            p.findings.setdefault(sig, {"kind": kind, "hits": 0, "first_seen": stamp, "last_seen": stamp, "new": is_new})
            p.findings[sig]["file"] = path.relative_to(self.root).as_posix()
            self.scheduler.masked.setdefault(key, set()).add(sig)
        return new_findings

    def _land(self, unit: Unit, result: dict[str, Any] | None) -> list[Event]:
        """Fold one result into the state (findings to the corpus at once); what to report once saved."""
        key = unit.key
        p = self.state.progress[key]
        if result is not None and result.get("done") is False:  # a finding, while its unit goes on
            new_findings = self._found(key, result["findings"], now())
            return [Event(key, unit, 0, 0, 0, new_findings, 0, partial=True)] if new_findings else []
        self.scheduler.landed(key, unit)
        if result is None:  # lost with its worker: the seed stays open, to be run again
            if unit.kind == SEARCH and unit.seed in p.in_flight:
                p.in_flight.remove(unit.seed)
            return [Event(key, unit, 0, 0, 0, [], 0, lost=True)]
        stamp = now()
        before = self.corpus_before.get(key, set())
        new_findings = self._found(key, result["findings"], stamp)
        known_hits = 0
        for sig, (kind, hits, names) in result["hits"].items():
            f = p.findings.setdefault(sig, {"kind": kind, "hits": 0, "first_seen": stamp, "new": sig not in before})
            f["hits"] += hits
            f["names"] = names
            f["last_seen"] = stamp
            if "file" not in f and sig in before:
                f["file"] = corpus.path_for(Path(), *key.split("/", 1), sig).as_posix()
            known_hits += 0 if f["new"] else hits
        fresh_states = sorted(set(result["states"]) - set(p.states))
        p.states = sorted(set(p.states) | set(fresh_states))
        new_cov = merge(p.coverage, result["coverage"])
        p.schedules += result["schedules"] if unit.kind == SEARCH else 0
        if p.reached is not None and p.accessed is not None:
            p.reached += result["reached"]
            p.accessed += result["accessed"]
        p.seconds = round(p.seconds + result["seconds"], 3)
        p.cpu = round(p.cpu + result["cpu"], 3)
        p.coverage_seconds = round(p.coverage_seconds + result["coverage_seconds"], 3)
        novelties = len(fresh_states) + new_cov + FINDING_WEIGHT * len(new_findings)
        if unit.kind == SEARCH:
            p.units += 1
            p.complete(unit.seed)
            p.recent = (p.recent + [[result["schedules"], novelties]])[-RECENT:]
        else:
            v = result["verify"]
            p.verify["schedules"] += result["schedules"]
            if v["holds"]:  # complete, no counterexample, not vacuous
                p.verify.update(bound=v["bounds"], next=v["bounds"][0] + 1, budget=0, states=v["states"])
            elif v["complete"] or result["findings"]:
                p.verify["next"] = MAX_BOUND + 1  # a counterexample: verification is over
            else:
                p.verify["budget"] = 2 * max(unit.budget, 1)
        if novelties:
            p.last_new = stamp
        self.done_schedules += result["schedules"]
        return [Event(key, unit, result["schedules"], len(fresh_states), new_cov, new_findings, known_hits)]


class _signals:
    """SIGINT/SIGTERM stop the hand-out (in-flight units get `grace` seconds); a second one abandons them."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign

    def __enter__(self) -> None:
        def handler(signum, frame) -> None:
            c = self.campaign
            if c.stop_signal is not None:
                c.grace = 0.0
            c.stop_signal = signum

        self.old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc) -> None:
        for s, h in self.old.items():
            signal.signal(s, h)


def exit_code(campaign: Campaign, verdicts: list[Verdict]) -> int:
    if campaign.stop_signal == signal.SIGINT:
        return EXIT_SIGINT
    if campaign.stop_signal == signal.SIGTERM:
        return EXIT_SIGTERM
    return 0 if all(v.ok is not False for v in verdicts) else 1


# -- verdicts ----------------------------------------------------------------------------


@attrs.frozen
class Verdict:
    key: str
    line: str
    ok: bool | None  # None: not run, no verdict


def verdicts(state: State) -> list[Verdict]:
    return [verdict(p) for p in state.progress.values()]


def verdict(p: Progress) -> Verdict:
    """One `Observation` line against the claim; a variant with no schedules is "not run", never a verdict."""
    claimed = Claim.from_dict(p.claim)
    claim = claimed.text()
    hit = {s: f for s, f in p.findings.items() if f["hits"] or f.get("new")}  # new: found, maybe in a unit never finished
    if not p.units and not p.verify["schedules"] and not hit:
        return Verdict(p.key, f"Observation {p.key} not run (claim: {claim})", None)
    judged = claimed.judge((s, f.get("names", [f["kind"]])) for s, f in hit.items())
    counted = p.reached is not None and p.accessed is not None
    vacuous = vacuity(p.schedules, p.reached, p.accessed) if counted and claimed.expected == "holds" and not hit else None
    ok = judged.ok and vacuous is None
    answer = f"VACUOUS: {vacuous}" if vacuous else "ok" if ok else "UNEXPECTED: " + judged.why()
    line = f"Observation {p.key} {'Sometimes' if hit else 'Never'} {len(hit)} {p.schedules} (expected {claim}: {answer})"
    bound = p.verify["bound"]
    if bound is not None:
        line += f"; holds within {_bounds(*bound)}"
    return Verdict(p.key, line, ok)


def _bounds(k: int, e: int) -> str:
    return f"{k} preemption{'s' * (k != 1)} and {e} injected event{'s' * (e != 1)}"


def saved_signatures(root: Path) -> dict[str, set[str]]:
    """Per variant key, the signatures already in the corpus (their hits are "known", not new)."""
    out: dict[str, set[str]] = {}
    for path in corpus.files(root):
        rel = path.relative_to(root).parts
        if len(rel) == 3:
            out.setdefault(f"{rel[0]}/{rel[1]}", set()).add(path.stem)
    return out


def resume_note(state: State) -> str | None:
    """What the start of a resumed campaign says: where it stands and what the last stop lost."""
    if not state.resumed:
        return None
    done = sum(p.units for p in state.progress.values())
    lost = sum(len(p.in_flight) for p in state.progress.values())
    fresh = sum(1 for p in state.progress.values() if not p.units)
    text = f"resuming campaign (session {state.sessions + 1}): {done} units done over {_duration(state.elapsed)}"
    if fresh:
        text += f", {fresh} variant(s) still to get their first round"
    if lost:
        text += f"; {lost} unit(s) were in flight when it last stopped and run again"
    return text


def reset_in_flight(state: State) -> None:
    for p in state.progress.values():
        p.in_flight = []


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def iter_units(state: State) -> Iterator[tuple[str, int]]:
    """(variant key, seed) of every completed search unit in the state."""
    for key, p in state.progress.items():
        for seed in list(range(p.seeds_below)) + p.seeds_above:
            yield key, seed


__all__ = ["Campaign", "CampaignError", "Lock", "Scheduler", "State", "Verdict", "load_state", "read_state", "verdicts"]
