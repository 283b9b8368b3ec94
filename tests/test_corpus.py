"""Corpus files: the round trip, atomic writes, clear errors, and every shipped case."""

from __future__ import annotations

import json

import pytest
from panicfuzz import corpus, protocols
from panicfuzz.pytest_plugin import CorpusCase, check_case
from panicfuzz.run import execute
from panicfuzz.search import search
from panicfuzz.strategies import Replay
from panicfuzz.timeline import timeline_of

from tests.support import CORPUS

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


def test_every_shipped_case_is_replayed(request):
    """The plugin collects the shipped cases ([tool.panicfuzz] corpus of pyproject.toml) as items,
    `corpus/<protocol>/<variant>/<signature>.json::replay`: each must reproduce identically on its
    variant (claimed to fail) and every variant claimed to hold must survive it. A case this
    session does not run as an item (`pytest tests/test_corpus.py`, the plugin disabled) is
    checked here, as strictly."""
    assert SHIPPED and all(corpus.SIGNATURE.fullmatch(p.stem) for p in SHIPPED)
    collected = {item.path for item in request.session.items if isinstance(item, CorpusCase)}
    for path in SHIPPED:
        if path not in collected:
            check_case(path, CORPUS.parent)
