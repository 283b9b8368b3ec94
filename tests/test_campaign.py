"""Campaigns: parallel units, fair then adaptive, nothing lost on kill or interrupt, the report, Dask."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panicfuzz import corpus
from panicfuzz.campaign import Lock, campaign_dir, iter_units, read_state
from panicfuzz.cli import main

UNIT = re.compile(r"^\S+Z (\S+) search seed (\d+): (\d+) schedules", re.M)


def completed(out: str) -> list[tuple[str, int]]:
    return [(m[1], int(m[2])) for m in UNIT.finditer(out)]


def campaign(tmp: Path, *args: str) -> list[str]:
    return ["campaign", *args, "--corpus", str(tmp), "--verify-schedules", "300"]


def test_two_workers_run_every_variant_and_never_repeat_a_seed(capsys, tmp_path):
    argv = campaign(tmp_path, "hpet", "--workers", "2", "--max-schedules", "400", "--round-schedules", "40")
    assert main(argv) == 0
    out = capsys.readouterr().out
    units = completed(out)
    variants = {v for v, _ in units}
    assert variants == {"hpet/mainline", "hpet/panic-cpu-check", "hpet/panic-nmi-context"}
    assert {(v, 0) for v in variants} <= set(units)
    assert len(units) == len(set(units)) > 3
    state = read_state(campaign_dir(tmp_path) / "state")
    assert sorted(iter_units(state)) == sorted(units)
    assert all(p.units == len([u for u in units if u[0] == k]) for k, p in state.progress.items())
    assert "Observation hpet/mainline Sometimes 2" in out and "Observation hpet/panic-cpu-check Never 0" in out
    # the saved findings are exactly the ones the state holds, each a valid corpus case
    saved = {p.stem for p in corpus.files(tmp_path)}
    assert saved == {s for p in state.progress.values() for s, f in p.findings.items() if f.get("new")}
    for path in corpus.files(tmp_path):
        corpus.load(path)


def test_fair_first_every_variant_is_handed_its_first_unit_before_any_its_second(tmp_path):
    from panicfuzz import protocols
    from panicfuzz.campaign import Scheduler, load_state

    hpet = protocols.load("hpet")
    state = load_state(tmp_path / "state", [(hpet, v.name) for v in hpet.variants])
    scheduler = Scheduler(state, 40, 300, "hypothesis", True, masked={})
    first = [scheduler.next(10_000) for _ in range(3)]
    assert sorted(u.key for u in first) == sorted(state.progress) and {u.seed for u in first} == {0}
    second = scheduler.next(10_000)  # every variant has one in flight: the adaptive phase, a fresh seed
    assert (second.key, second.seed) not in {(u.key, u.seed) for u in first}


def test_not_run_variants_are_no_verdict_and_the_report_says_so(capsys, tmp_path):
    argv = campaign(tmp_path, "hpet", "smp_stop", "--workers", "1", "--max-schedules", "60", "--round-schedules", "30", "--json")
    assert main(argv) == 0  # two variants ran as claimed; the five not run give no verdict, good or bad
    out = json.loads(capsys.readouterr().out)["observations"]
    ran = [o for o in out if o["as_expected"] is not None]
    assert [o["variant"] for o in ran] == ["hpet/mainline", "hpet/panic-cpu-check"]
    not_run = [o for o in out if o["as_expected"] is None]
    assert len(not_run) == 5 and all(" not run " in o["observation"] for o in not_run)
    md = (campaign_dir(tmp_path) / "report.md").read_text()
    assert "Observation smp_stop/x86 not run (claim: holds)" in md
    html = (campaign_dir(tmp_path) / "report.html").read_text()
    assert "class=miss" in html and "<pre>" in html  # never-executed lines highlighted; a finding's timeline


def test_resume_continues_the_fair_order_and_keeps_other_protocols(capsys, tmp_path):
    base = ["--workers", "1", "--round-schedules", "30"]
    assert main(campaign(tmp_path, "hpet/mainline", *base, "--max-schedules", "30")) == 0
    state_file = campaign_dir(tmp_path) / "state"
    before = json.loads(state_file.read_text())["variants"]["hpet/mainline"]
    assert main(campaign(tmp_path, "smp_stop", *base, "--max-schedules", "60")) == 0
    assert json.loads(state_file.read_text())["variants"]["hpet/mainline"] == before  # another subset: left alone
    capsys.readouterr()
    assert main(campaign(tmp_path, "smp_stop", *base, "--max-schedules", "60")) == 0
    out = capsys.readouterr().out
    assert out.startswith("resuming campaign (session 3): 2 units done")
    assert [v for v, _ in completed(out)] == ["smp_stop/merged", "smp_stop/x86"]  # where it stopped


@pytest.fixture(scope="module")
def saved_state(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("state")
    assert main(campaign(root, "hpet/mainline", "--workers", "1", "--max-schedules", "20", "--round-schedules", "20")) == 0
    return json.loads((campaign_dir(root) / "state").read_text())


@pytest.mark.parametrize(
    "field, value",
    [("units", -1), ("states", "abc"), ("seconds", float("nan")), ("findings", {"x": {"kind": "deadlock"}}), ("seeds_above", [1.5])],
)
def test_a_bad_state_file_is_refused_naming_the_field(capsys, tmp_path, saved_state, field, value):
    data = json.loads(json.dumps(saved_state))
    data["variants"]["hpet/mainline"][field] = value
    state_file = campaign_dir(tmp_path) / "state"
    state_file.parent.mkdir()
    state_file.write_text(json.dumps(data))
    assert main(campaign(tmp_path, "hpet/mainline", "--max-schedules", "20")) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count(f"{state_file}: field 'variants.hpet/mainline.{field}' has a bad value") == 2
    assert json.loads(state_file.read_text()) == json.loads(json.dumps(data))  # refused, not rewritten


def test_a_second_campaign_on_the_same_corpus_is_refused(capsys, tmp_path):
    with Lock(tmp_path):
        assert main(campaign(tmp_path, "hpet", "--max-schedules", "10")) == 2
    assert f"another campaign (pid {os.getpid()}) is running on this corpus" in capsys.readouterr().err


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


# -- real processes: kill, interrupt, Dask ------------------------------------------------------

# The campaign, with every state save slowed down in the middle (temp file written, not yet renamed)
# and announced on stderr, so that the test can kill it during a save.
SLOW_SAVE = """
import sys, time
import panicfuzz.corpus as c
real = c.write_atomic
def slow(path, data, **kw):
    if path.name == "state":
        tmp = path.with_name(".state.partial.tmp")
        tmp.write_text('{"schema": 2, "vari')
        print("SAVING", file=sys.stderr, flush=True)
        time.sleep(0.2)
    real(path, data, **kw)
c.write_atomic = slow
from panicfuzz.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(argv: list[str], *, slow_save: bool = False) -> subprocess.Popen:
    code = SLOW_SAVE if slow_save else "import sys; from panicfuzz.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def test_sigkill_at_random_points_loses_only_units_in_flight(tmp_path):
    rng = random.Random(14)
    argv = campaign(tmp_path, "hpet", "--workers", "2", "--max-schedules", "100000", "--round-schedules", "20")
    seen: list[tuple[str, int]] = []
    for i in range(6):
        proc = start(argv, slow_save=True)
        saves_before_kill = rng.randrange(2, 7)
        for _ in range(saves_before_kill):  # kill during the n-th save (half of the points) or just after it
            while "SAVING" not in proc.stderr.readline():
                assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1 if i % 2 == 0 else 0.3 + rng.random() * 0.3)
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        seen += completed(out)
        state = read_state(campaign_dir(tmp_path) / "state")  # valid after every kill
        assert set(seen) <= set(iter_units(state))  # every unit it reported is saved
        assert sum(p.units for p in state.progress.values()) == len(list(iter_units(state)))
        for path in corpus.files(tmp_path):
            corpus.load(path)
        if i:
            assert "resuming campaign" in out
    assert len(seen) == len(set(seen))  # no completed unit ran twice
    proc = start(["campaign", "hpet", "--corpus", str(tmp_path), "--workers", "2", "--max-schedules", "100", "--round-schedules", "20"])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), err
    seen += completed(out)
    state = read_state(campaign_dir(tmp_path) / "state")
    # a kill between a unit's save and its log line hides the line, never the unit; a unit run twice
    # would count twice in `units`, once in the seeds
    assert len(seen) == len(set(seen)) and set(seen) <= set(iter_units(state))
    assert sum(p.units for p in state.progress.values()) == len(list(iter_units(state)))


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_or_sigterm_ends_within_seconds_with_the_report_written(tmp_path, signum, code):
    proc = start(campaign(tmp_path, "kdump", "smp_stop", "--workers", "2", "--max-schedules", "100000", "--round-schedules", "20000", "--grace", "1"))
    while "campaign:" not in proc.stdout.readline():
        assert proc.poll() is None
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == code, err
    assert re.search(rf"stopped by signal {int(signum)}; [12] unit\(s\) in flight abandoned", err)
    assert "Observation smp_stop/v1 not run" in out
    assert "Observation smp_stop/v1 not run" in (campaign_dir(tmp_path) / "report.md").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_cluster_gives_the_same_findings_as_the_local_pool(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env=env, stderr=subprocess.DEVNULL)]
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                env=env,
                stderr=subprocess.DEVNULL,
            )
        )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        runs = {}
        for name, how in (("dask", ["--scheduler", address]), ("local", ["--workers", "2"])):
            root = tmp_path / name
            argv = campaign(root, "hpet", *how, "--max-schedules", "120", "--round-schedules", "40", "--json")
            assert main(argv) == 0
            state = read_state(campaign_dir(root) / "state")
            runs[name] = (sorted(iter_units(state)), {k: sorted(p.findings) for k, p in state.progress.items()}, sorted(p.name for p in corpus.files(root)))
        assert runs["dask"] == runs["local"]
        assert len(runs["local"][0]) == 3 and len(runs["local"][1]["hpet/mainline"]) == 2
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(30)


def test_the_local_pool_hands_back_each_finding_before_its_unit_ends():
    from panicfuzz import protocols
    from panicfuzz.executor import LocalPool
    from panicfuzz.work import SEARCH, Unit, model_ref

    pool = LocalPool(1)
    unit = Unit(ref=model_ref(protocols.load("hpet")), key="hpet/mainline", kind=SEARCH, seed=0, budget=100_000)
    try:
        pool.submit(unit)
        got = []
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            got = pool.wait(1.0)
        [(back, partial)] = got
        assert back == unit and partial["done"] is False  # the unit of 100,000 schedules is still running
        [record] = partial["findings"]
        assert record["protocol"] == "hpet" and record["failure"]["kind"] == "deadlock"
    finally:
        pool.close()
