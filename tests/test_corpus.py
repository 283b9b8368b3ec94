"""Corpus files: the round trip, atomic writes, clear errors, and every shipped case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panicfuzz import protocols
from panicfuzz import corpus
from panicfuzz.timeline import timeline_of
from panicfuzz.run import execute
from panicfuzz.search import search
from panicfuzz.strategies import Replay
from tests.support import CORPUS, replay_on

SHIPPED = sorted(CORPUS.rglob("*.json"))


@pytest.fixture(scope="module")
def finding():
    model = protocols.load("hpet")
    report = search(model, "mainline", max_schedules=200, seed=0, first_only=True)
    return model, report.findings[0]


def test_round_trip_replays_identically(tmp_path, finding):
    model, f = finding
    data = corpus.record(f, model, timeline_of(model, "mainline", f.result))
    path, written = corpus.save(tmp_path, data)
    assert written and path == tmp_path / "hpet" / "mainline" / f"{f.signature}.json"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    loaded = corpus.load(path)
    for key in ("schema", "tool_version", "protocol", "variant", "config", "trace", "failure", "timeline", "found", "shrink"):
        assert key in loaded
    again = execute(model, "mainline", Replay(corpus.trace_of(path, loaded)), logging=True)
    assert again.signature == loaded["failure"]["signature"]
    assert again.log_digest() == loaded["event_log_sha256"]


def test_the_same_bug_is_one_file_and_a_smaller_reproducer_wins(tmp_path, finding):
    model, f = finding
    data = corpus.record(f, model, "timeline")
    bigger = json.loads(json.dumps(data))  # the same failure with five idle steps more
    bigger["trace"] += ["cpu0"] * 5
    bigger["kinds"] += "d" * 5
    bigger["failure"]["steps"] += 5
    _, written = corpus.save(tmp_path, bigger)
    assert written
    _, written = corpus.save(tmp_path, data)
    assert written
    _, written = corpus.save(tmp_path, bigger)
    assert not written
    assert len(list(tmp_path.rglob("*.json"))) == 1


def test_every_protocol_ships_reproducers_for_its_failing_variants():
    for name in protocols.names():
        model = protocols.load(name)
        for v in model.variants:
            if v.expected == "fails":
                assert list((CORPUS / name / v.name).glob("*.json")), f"no shipped reproducer for {name}/{v.name}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CORPUS)))
def test_shipped_case_reproduces_identically_and_every_fix_survives_it(path: Path):
    data = corpus.load(path)
    model = protocols.load(data["protocol"])
    result = execute(model, data["variant"], Replay(corpus.trace_of(path, data)), logging=True)
    assert result.signature == data["failure"]["signature"] == path.stem
    assert result.log_digest() == data["event_log_sha256"]
    assert result.outcome.kind == data["failure"]["kind"]
    assert model.variant_info(data["variant"]).expected == "fails", "a variant claimed to hold has a saved failure"
    for v in model.variants:
        if v.expected == "holds":
            survived = replay_on(path, v.name)
            assert not survived.failed, f"{v.name} fails on {path.name}: {survived.outcome.message}"
