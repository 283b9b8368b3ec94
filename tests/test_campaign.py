"""Campaigns: rounds over every variant, state saved after each, resumable."""

from __future__ import annotations

import json

from panicfuzz.cli import main


def test_campaign_resumes_and_reports_observations(capsys, tmp_path):
    argv = ["campaign", "hpet", "--max-schedules", "600", "--round-schedules", "200", "--corpus", str(tmp_path), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    lines = {o["observation"].split()[1]: o["observation"] for o in out["observations"]}
    assert lines["hpet/mainline"].startswith("Observation hpet/mainline Sometimes 2 200")
    assert lines["hpet/panic-cpu-check"].startswith("Observation hpet/panic-cpu-check Never 0 200")
    state = json.loads((tmp_path / ".campaign.json").read_text())
    assert state["jobs"]["hpet/mainline"]["next_seed"] == 1
    # A second invocation continues with the next seeds and the known signatures masked.
    assert main(argv) == 0
    state = json.loads((tmp_path / ".campaign.json").read_text())
    assert state["jobs"]["hpet/mainline"]["next_seed"] == 2
    assert state["jobs"]["hpet/mainline"]["schedules"] == 400
    assert len(state["jobs"]["hpet/mainline"]["signatures"]) == 2
    assert sorted(p.name for p in (tmp_path / "hpet" / "mainline").glob("*.json")) == sorted(
        f"{s}.json" for s in state["jobs"]["hpet/mainline"]["signatures"]
    )


def test_campaign_needs_a_budget_and_a_readable_state(capsys, tmp_path):
    assert main(["campaign", "hpet", "--corpus", str(tmp_path)]) == 2
    assert "give a budget" in capsys.readouterr().err
    bad = tmp_path / "state.json"
    bad.write_text('{"schema": 1, "jobs": {"hpet/mainline": {"next_seed": "x"}}}')
    assert main(["campaign", "hpet", "--max-schedules", "10", "--state", str(bad), "--corpus", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "jobs.hpet/mainline" in err


def test_fuzz_saves_each_finding_the_moment_it_is_shrunk(monkeypatch, tmp_path):
    """An interrupt during the search for a second bug keeps the first one, already saved."""
    import panicfuzz.search as search_mod

    real, calls = search_mod._shrunk_finding, []

    def shrink_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search_mod, "_shrunk_finding", shrink_then_interrupt)
    argv = ["fuzz", "hpet", "--variant", "mainline", "--max-schedules", "200", "--corpus", str(tmp_path), "--json"]
    assert main(argv) == 130
    saved = list((tmp_path / "hpet" / "mainline").glob("*.json"))
    assert len(calls) == 2 and len(saved) == 1
