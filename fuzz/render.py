"""What the commands print: the text a person reads and the JSON a script reads.

Every function here turns results (search reports, verdicts, replays, shrinks)
into a string or a JSON-ready dict; nothing here runs a model or touches the
corpus. The commands in `panicfuzz.commands` print what these return.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .run import RunResult
from .search import UNBOUNDED, Finding, SearchReport, Verdict
from .scenarios import bind
from .timeline import timeline_of


def dumps(data: Any) -> str:
    """The JSON output of every command."""
    return json.dumps(data, indent=1)


def claim(expected) -> str:
    """A variant's claim in words: "holds" or "fails (deadlock)"."""
    return expected.expected + (f" ({expected.kind})" if expected.kind else "")


def verdict_word(as_expected: bool) -> str:
    return "as expected" if as_expected else "UNEXPECTED"


# -- JSON shapes -------------------------------------------------------------------


def failure_json(result: RunResult) -> dict[str, Any] | None:
    if not result.failed:
        return None
    size = result.size
    return {
        "kind": result.outcome.kind,
        "message": result.outcome.message,
        "signature": result.signature,
        "steps": size.steps,
        "preemptions": size.preemptions,
        "injected_events": size.injected,
    }


def found_json(f: Finding, path: str) -> dict[str, Any]:
    """A finding of `fuzz` or `verify`: its failure, where it was saved, when it was hit."""
    out = failure_json(f.result)
    assert out is not None
    out["corpus_file"] = path
    out["found_after"] = {"schedules": f.schedules, "seconds": f.seconds}
    return out


def report_json(report: SearchReport, files: list[str], as_expected: bool, known: list[str]) -> dict[str, Any]:
    """One variant of `fuzz`."""
    findings = [{**found_json(f, p), "before_shrinking": f.first.as_dict()} for f, p in zip(report.findings, files)]
    return {
        "protocol": report.protocol,
        "variant": report.variant,
        "strategy": report.strategy,
        "seed": report.seed,
        "schedules": report.schedules,
        "seconds": report.seconds,
        "steps_per_second": round(report.steps / report.seconds) if report.seconds else None,
        "failure": findings[0] if findings else None,
        "corpus_file": files[0] if files else None,
        "findings": findings,
        "as_expected": as_expected,
        "known_reproduced": known,
    }


def verdict_json(v: Verdict, files: list[str], as_expected: bool) -> dict[str, Any]:
    """One variant of `verify`."""
    return {
        "protocol": v.protocol,
        "variant": v.variant,
        "answer": verify_answer(v),
        "bounds": None if v.preemptions == UNBOUNDED else {"preemptions": v.preemptions, "injected_events": v.events},
        "whole_state_space": v.whole_space,
        "schedules": v.schedules,
        "distinct_states": v.states,
        "seconds": v.seconds,
        "complete": v.complete,
        "reduced": v.reduced,
        "findings": [found_json(f, p) for f, p in zip(v.findings, files)],
        "as_expected": as_expected,
    }


def one_or_list(out: list[dict[str, Any]]) -> Any:
    return out[0] if len(out) == 1 else out


# -- fuzz --------------------------------------------------------------------------


def fuzz_text(model_cls, report: SearchReport, files: list[str], expected, as_expected: bool, known: list[str]) -> str:
    """The timelines of one variant's findings, its verdict line and the corpus evidence."""
    parts = []
    for f, path in zip(report.findings, files):
        first, after = f.first, f.result.size
        parts.append(timeline_of(bind(model_cls, f.scenario), report.variant, f.result))
        parts.append(
            f"\nfound after {f.schedules} schedules ({f.seconds:.2f} s, {report.strategy}, seed {report.seed}); "
            f"shrunk from {first.preemptions}p/{first.injected}i/{first.steps} steps "
            f"to {after.preemptions}p/{after.injected}i/{after.steps} steps in {f.shrink_seconds:.2f} s"
        )
        parts.append(f"saved: {path}\nreplay: panicfuzz replay {path}\n")
    kinds = ", ".join(sorted({f.result.outcome.kind for f in report.findings})) or "nothing"
    parts.append(
        f"{report.protocol}/{report.variant}: {len(report.findings)} finding(s) [{kinds}] in "
        f"{report.schedules} schedules, {report.seconds:.2f} s; expected {claim(expected)}: {verdict_word(as_expected)}"
    )
    for path in known:
        parts.append(f"  (the expected {expected.kind} was not hit in this budget; the saved case {path} reproduces it)")
    return "\n".join(parts)


# -- verify ------------------------------------------------------------------------


def bounds(v: Verdict) -> str:
    p, e = v.preemptions, v.events
    if p == UNBOUNDED:
        return "the whole state space"
    return f"{p} preemption{'s' * (p != 1)} and {e} injected event{'s' * (e != 1)}"


def verify_answer(v: Verdict) -> str:
    if v.findings:
        return "counterexample"
    return "holds" if v.complete else "inconclusive"


def verify_text(model_cls, v: Verdict, files: list[str], expected, as_expected: bool) -> str:
    parts = []
    for f, path in zip(v.findings, files):
        parts.append(timeline_of(bind(model_cls, f.scenario), v.variant, f.result))
        parts.append(f"\ncounterexample after {f.schedules} schedules ({f.seconds:.2f} s, exhaustive within {bounds(v)})")
        parts.append(f"saved: {path}\nreplay: panicfuzz replay {path}\n")
    stats = f"{v.schedules} schedules, {v.states} distinct states, {v.seconds:.2f} s"
    if v.findings:
        answer = f"{len(v.findings)} counterexample(s) within {bounds(v)}"
    elif v.complete and v.preemptions == UNBOUNDED:
        answer = "holds: the whole state space was explored"
    elif v.whole_space:
        answer = f"holds within {bounds(v)}; the bounds were not binding: this is the whole state space"
    elif v.complete:
        answer = f"holds within {bounds(v)}"
    else:
        answer = f"inconclusive: --max-schedules spent before every schedule within {bounds(v)} was explored"
    parts.append(f"{v.protocol}/{v.variant}: {answer} ({stats}); expected {claim(expected)}: {verdict_word(as_expected)}")
    return "\n".join(parts)


# -- replay ------------------------------------------------------------------------


def replay_text(model_cls, variant: str, path: Path, result: RunResult, entry: dict, ok: bool) -> str:
    parts = []
    if result.failed and not entry.get("survived", False):
        parts.append(timeline_of(model_cls, variant, result) + "\n")
    if entry["identical"] is None:
        what = "survives" if ok else f"fails ({result.outcome.kind})"
        diverged = "" if entry["diverged_at"] is None else f", schedule adapted from decision {entry['diverged_at']}"
        parts.append(f"{path}: variant {variant} {what}{diverged}")
    else:
        state = "reproduced identically" if ok else ("reproduced, but the event log differs" if entry["reproduced"] else "NOT reproduced")
        parts.append(f"{path}: {state}")
    return "\n".join(parts)


# -- shrink ------------------------------------------------------------------------


def short(size) -> str:
    return f"{size.preemptions}p/{size.injected}i/{size.switches}s/{size.steps} steps"


def shrink_text(path: Path, before, after, changed: bool, report) -> str:
    proof = "minimal: proven" if report.minimal else "minimality not proven within --proof-budget"
    if changed:
        same = (before.preemptions, before.injected, before.switches, before.steps) == (
            after.preemptions,
            after.injected,
            after.switches,
            after.steps,
        )
        what = f"shrunk from {short(before)} to {short(after)}{' (a simpler trace)' if same else ''}; {proof}"
    else:
        what = f"no smaller reproducer than {short(after)} ({proof}); left unchanged"
    return f"{path}: {what} in {report.seconds:.2f} s\n  {report.summary()}"
