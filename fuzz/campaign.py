"""Long-running campaigns: every variant, round after round, resumable.

A campaign cycles through (protocol, variant) jobs; each round is one search
with the job's next seed and a fixed schedule budget. After every round the
campaign state is written atomically, so an interrupted campaign resumes
where it stopped (only the round in flight is lost) and a finished one can be
extended. Findings go to the corpus as in `panicfuzz fuzz`. The campaign ends
with one verdict line per variant, in the manner of herd7's `Observation`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import attrs

from .corpus import write_atomic
from .model import Model
from .search import SearchReport, search

STATE_SCHEMA = 1


class CampaignError(Exception):
    """An unusable campaign state file (names the file and field)."""


@attrs.define
class Job:
    protocol: str
    variant: str
    next_seed: int = 0
    rounds: int = 0
    schedules: int = 0
    seconds: float = 0.0
    signatures: list[str] = attrs.field(factory=list)
    kinds: list[str] = attrs.field(factory=list)

    @property
    def key(self) -> str:
        return f"{self.protocol}/{self.variant}"


def load_state(path: Path, jobs: list[Job]) -> list[Job]:
    """Merge saved progress into `jobs` (jobs not in the file start fresh)."""
    if not path.exists():
        return jobs
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CampaignError(f"{path}: cannot read campaign state: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA or not isinstance(data.get("jobs"), dict):
        raise CampaignError(f"{path}: field 'schema' must be {STATE_SCHEMA} with a 'jobs' object")
    for job in jobs:
        saved = data["jobs"].get(job.key)
        if saved is None:
            continue
        try:
            job.next_seed = int(saved["next_seed"])
            job.rounds = int(saved["rounds"])
            job.schedules = int(saved["schedules"])
            job.seconds = float(saved["seconds"])
            job.signatures = [str(s) for s in saved["signatures"]]
            job.kinds = [str(k) for k in saved["kinds"]]
        except (KeyError, TypeError, ValueError) as e:
            raise CampaignError(f"{path}: field 'jobs.{job.key}' is malformed ({e})") from None
    return jobs


def save_state(path: Path, jobs: list[Job]) -> None:
    write_atomic(path, {"schema": STATE_SCHEMA, "jobs": {j.key: attrs.asdict(j) for j in jobs}})


def run_campaign(
    jobs: list[tuple[type[Model], Job]],
    *,
    state_path: Path,
    strategy: str,
    round_schedules: int,
    max_schedules: int | None,
    deadline: float | None,
    on_round: Callable[[Job, SearchReport], None],
) -> None:
    """Run rounds until the schedule budget or the wall-clock deadline is spent."""
    spent = 0
    while True:
        for model_cls, job in jobs:
            if max_schedules is not None and spent >= max_schedules:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            budget = round_schedules if max_schedules is None else min(round_schedules, max_schedules - spent)
            report = search(
                model_cls,
                job.variant,
                strategy=strategy,
                max_schedules=budget,
                seed=job.next_seed,
                known=frozenset(job.signatures),
            )
            job.next_seed += 1
            job.rounds += 1
            job.schedules += report.schedules
            job.seconds = round(job.seconds + report.seconds, 3)
            for f in report.findings:
                job.signatures.append(f.signature)
                job.kinds.append(f.result.outcome.kind)
            spent += report.schedules
            on_round(job, report)
            save_state(state_path, [j for _, j in jobs])


def observation(model_cls: type[Model], job: Job) -> tuple[str, bool]:
    """One verdict line: Never (nothing found) or Sometimes (failures found), against the claim."""
    claim = model_cls.variant_info(job.variant)
    verdict = "Sometimes" if job.signatures else "Never"
    if claim.expected == "holds":
        ok = not job.signatures
    else:
        ok = claim.kind in job.kinds
    expected = claim.expected + (f" {claim.kind}" if claim.kind else "")
    line = (
        f"Observation {job.key} {verdict} {len(job.signatures)} {job.schedules} "
        f"(expected {expected}: {'ok' if ok else 'UNEXPECTED'})"
    )
    return line, ok
