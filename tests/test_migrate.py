"""`panicfuzz corpus migrate`: re-sign cases that still reproduce, report the others untouched."""

from __future__ import annotations

import json
import shutil

from panicfuzz.cli import main
from tests.support import CORPUS

CASE = CORPUS / "hpet" / "mainline" / "deadlock-b0baa83d5539.json"


def test_migrate_renames_a_stale_signature_and_leaves_a_lost_case_alone(tmp_path, capsys):
    folder = tmp_path / "hpet" / "mainline"
    folder.mkdir(parents=True)
    stale = folder / "deadlock-000000000000.json"
    data = json.loads(CASE.read_text())
    data["failure"]["signature"] = "deadlock-000000000000"
    data["event_log_sha256"] = "0" * 64
    stale.write_text(json.dumps(data))
    lost = folder / "deadlock-111111111111.json"
    gone = dict(data, trace=["cpu0"], kinds="d")
    gone["failure"] = dict(data["failure"], signature=lost.stem, preemptions=0, injected_events=0, switches=0, steps=1)
    lost.write_text(json.dumps(gone))
    assert main(["corpus", "migrate", str(stale), str(lost)]) == 1
    out = capsys.readouterr().out
    assert f"renamed   {stale} -> {CASE.name}" in out
    assert f"NOT REPRODUCED {lost}: replays as no failure (left as it is)" in out
    assert not stale.exists() and lost.read_text() == json.dumps(gone)
    migrated = json.loads((folder / CASE.name).read_text())
    assert migrated == json.loads(CASE.read_text())  # the very case that ships


def test_migrate_leaves_a_current_corpus_unchanged(tmp_path, capsys):
    shutil.copytree(CORPUS / "kdump", tmp_path / "kdump")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert main(["corpus", "migrate", *map(str, before)]) == 0
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.json")} == before
    assert "3 cases: 3 reproduce, 0 no longer reproduce" in capsys.readouterr().out
