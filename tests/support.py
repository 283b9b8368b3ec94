"""Shared checks for protocol tests: an expected outcome is a claim tested by searching."""

from __future__ import annotations

import os
from pathlib import Path

from panicfuzz import protocols
from panicfuzz import corpus, scenarios
from panicfuzz.claims import Claim, answers
from panicfuzz.run import execute
from panicfuzz.search import SearchReport, search
from panicfuzz.strategies import Replay

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# Search budgets in the tests are the CI profile's; PANICFUZZ_PROFILE=nightly
# multiplies every one of them for a longer, deeper run of the same tests. The
# pytest plugin reads the same variable (its default profile is dev).
PROFILES = {"dev": 1, "ci": 1, "nightly": 20}
try:
    SCALE = PROFILES[os.environ.get("PANICFUZZ_PROFILE", "ci")]
except KeyError:
    raise SystemExit(f"PANICFUZZ_PROFILE must be one of {', '.join(PROFILES)}") from None


def search_variant(protocol: str, variant: str, *, max_schedules: int, seed: int = 0, strategy: str = "hypothesis") -> SearchReport:
    return search(protocols.load(protocol), variant, strategy=strategy, max_schedules=max_schedules * SCALE, seed=seed)


def assert_expected(protocol: str, variant: str, report: SearchReport) -> None:
    """The search gave the variant's declared outcome."""
    claimed = Claim.of(protocols.load(protocol).variant_info(variant))
    judged = claimed.judge((f.signature, answers(f.result.outcome)) for f in report.findings)
    messages = "\n\n".join(f"{f.signature}: {f.result.outcome.message}" for f in report.findings)
    assert judged.ok, f"{protocol}/{variant} claims {claimed.text()}: {judged.why()}; the search found:\n{messages or 'nothing'}"


def saved_cases(protocol: str, variant: str | None = None) -> list[Path]:
    """Corpus files shipped in the repo for a protocol (and variant)."""
    base = CORPUS / protocol
    if variant:
        base = base / variant
    return sorted(base.rglob("*.json")) if base.exists() else []


def replay_on(path: Path, variant: str):
    """Lenient replay of a saved case on `variant` (the fix-survives question)."""
    data = corpus.load(path)
    model = scenarios.from_record(protocols.load(data["protocol"]), data, str(path))
    return execute(model, variant, Replay(corpus.trace_of(path, data), data["kinds"], strict=False))
