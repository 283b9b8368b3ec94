"""Done when (issue 15, the pytest plugin): a user's project outside the repository, its own models
and corpus, driven by `python -m pytest` in subprocesses.

The project has two models: the tutorial's nmi_lock (its `irqsave` variant re-claimed to hold:
the buggy fix its fuzz test catches) and a toy whose fixed variant removes the failing
schedule's window (a weak survival). Its corpus is made by `panicfuzz fuzz`.

The plugin is loaded by its `pytest11` entry point. A venv installed before the entry point
existed (`pip install -e .` records entry points at install time) gets the same entry point from
a `*.dist-info` on PYTHONPATH, made from pyproject.toml's own table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from panicfuzz.cli import main
from panicfuzz.pytest_plugin import CaseFailed, check_case

ROOT = Path(__file__).resolve().parent.parent

WINDOW = '''\
from panicfuzz.cells import raw_spinlock_t
from panicfuzz.kernel import goal_reached, raw_spin_lock, raw_spin_unlock
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant


class Window(Model):
    name = "window"
    ncpus = 1
    goal = "the update is done"
    max_steps = 50
    variants = (
        Variant("locked", "fails", "the update runs under the lock", kind="deadlock"),
        Variant("lockless", "holds", "the update takes no lock: no window for the #GP"),
    )

    def __init__(self, variant):
        super().__init__(variant)
        self.lock = raw_spinlock_t("lock")
        self.other = raw_spinlock_t("other")
        self.inside = False

    async def cpu_main(self, cpu):
        lock = self.lock if self.variant == "locked" else self.other
        await raw_spin_lock(lock)
        self.inside = lock is self.lock
        await raw_spin_unlock(lock)
        self.inside = False
        await goal_reached("update done")

    async def gp(self):
        await raw_spin_lock(self.lock)

    events = (Event("#GP", Kind.EXC, gp, guard=lambda self, cpu: self.inside),)
'''

TESTS = '''\
def test_trylock_holds(panicfuzz):
    panicfuzz.fuzz("models/nmi_lock.py", "trylock")


def test_spin_lock_deadlocks(panicfuzz):
    panicfuzz.fuzz("models/nmi_lock.py:NmiLock", "spin_lock")
'''

BUGGY = '''\
def test_irqsave_holds(panicfuzz):
    panicfuzz.fuzz("models/nmi_lock.py", "irqsave")
'''


def _environment(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PANICFUZZ_"))}
    # as a process in the project sees it (this one may see the checkout's panicfuzz.egg-info)
    probe = "import importlib.metadata as m; print(any(e.name == 'panicfuzz' for e in m.entry_points(group='pytest11')))"
    installed = subprocess.run([sys.executable, "-c", probe], cwd=tmp, env=env, check=True, capture_output=True, text=True)
    if installed.stdout.strip() != "True":
        table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
        dist = tmp / "site" / "panicfuzz_plugin-0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: panicfuzz-plugin\nVersion: 0\n")
        (dist / "entry_points.txt").write_text("[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp / "site"), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The project, its corpus made by `panicfuzz fuzz`, and the environment to run it in."""
    tmp = tmp_path_factory.mktemp("plugin")
    proj = tmp / "proj"
    (proj / "models").mkdir(parents=True)
    (proj / "tests").mkdir()
    nmi_lock = (ROOT / "docs" / "nmi_lock.py").read_text()
    claim = 'Variant("irqsave", "fails", "task context takes it with spin_lock_irqsave(): masks IRQs, not NMIs", kind="deadlock")'
    assert claim in nmi_lock
    (proj / "models" / "nmi_lock.py").write_text(nmi_lock.replace(claim, 'Variant("irqsave", "holds", "spin_lock_irqsave() in task context")'))
    (proj / "models" / "window.py").write_text(WINDOW)
    (proj / "pyproject.toml").write_text('[tool.panicfuzz]\ncorpus = "cases"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (proj / "conftest.py").write_text('from panicfuzz.pytest_plugin import register_profile\n\nregister_profile("tiny", max_schedules=60)\n')
    (proj / "tests" / "test_nmi_lock.py").write_text(TESTS)
    here = Path.cwd()
    os.chdir(proj)  # `panicfuzz fuzz` run from the project (in this process: a subprocess costs seconds)
    try:
        for model, variant in (("models/nmi_lock.py", "spin_lock"), ("models/window.py", "locked")):
            assert main(["fuzz", model, "--variant", variant, "--max-schedules", "60", "-q"]) == 0
    finally:
        os.chdir(here)
    return proj, _environment(tmp)


@pytest.fixture
def project(made, tmp_path) -> Path:
    """A copy of the project of its own, for a test that edits it."""
    proj, _ = made
    shutil.copytree(proj, tmp_path / "proj")
    return tmp_path / "proj"


def pytest_in(made, proj: Path, *argv: str, code: int) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv], check=False, cwd=proj, env=made[1], capture_output=True, text=True)
    assert done.returncode == code, f"pytest {' '.join(argv)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def cases(proj: Path) -> list[str]:
    return sorted(str(p.relative_to(proj)) for p in (proj / "cases").rglob("*.json"))


def test_collect_only_lists_one_item_per_corpus_case(made, project):
    proj, _ = made
    out = pytest_in(made, proj, "--collect-only", "-q", code=0)
    items = [line for line in out.splitlines() if "::" in line]
    assert [i.removesuffix("::replay") for i in items if i.endswith("::replay")] == cases(proj)
    assert len(cases(proj)) >= 3 and {c.split("/")[2] for c in cases(proj)} == {"spin_lock", "locked"}
    assert [i for i in items if not i.endswith("::replay")] == ["tests/test_nmi_lock.py::test_trylock_holds", "tests/test_nmi_lock.py::test_spin_lock_deadlocks"]
    # no corpus asked for (none configured, pytest walks the whole project): nothing changes
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    out = pytest_in(made, project, "--collect-only", "-q", code=0)
    assert "::replay" not in out and "2 tests collected" in out


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_the_suite_passes_and_a_weak_survival_says_so(made, xdist):
    proj, _ = made
    n = len(cases(proj))
    out = pytest_in(made, proj, "-q", "--panicfuzz-profile", "tiny", *xdist, code=0)
    assert f"{n + 2} passed" in out
    assert re.search(r"\n  cases/window/locked/deadlock-\w+\.json:1: PanicfuzzWeakSurvival: lockless: survived, but the schedule diverged at decision 2", out)
    assert cases(proj) == cases(made[0])  # known bugs found again change no file


def test_a_case_that_no_longer_reproduces_fails_with_a_clear_report(made, project):
    spin = sorted((project / "cases" / "nmi_lock" / "spin_lock").glob("*.json"))
    edited = json.loads(spin[0].read_text())
    at = next(i for i, a in enumerate(edited["trace"]) if a.startswith("NMI@"))
    edited["trace"][at] = "NMI@cpu1" if edited["trace"][at] == "NMI@cpu0" else "NMI@cpu0"  # the NMI to the other CPU
    spin[0].write_text(json.dumps(edited))
    lost = json.loads(spin[1].read_text()) | {"model": {"name": "gone", "ref": "models/gone.py:Gone"}}
    (spin[0].parent / "lost.json").write_text(json.dumps(lost))
    out = pytest_in(made, project, "-q", "--panicfuzz-strict", "cases", code=1)
    name = str(spin[0].relative_to(project))
    report = out[out.index(f"{name}: NOT reproduced") : out.index("saved timeline:")]
    print(report)  # the figure for the issue
    assert f"{name}: NOT reproduced on nmi_lock/spin_lock\n  saved:  {spin[0].stem}: CPU" in report
    assert "  replay: no failure" in report and f"replay: panicfuzz replay {name}" in report
    assert "cases/nmi_lock/spin_lock/lost.json: field 'model': model 'gone' (models/gone.py:Gone) is not found from here" in out
    assert "on lockless: survived, but the schedule diverged" in out and "--variant lockless --strict" in out  # strict: weak fails
    assert "Traceback" not in out and "panicfuzz/" not in out and "3 failed" in out


def test_a_fuzz_test_on_a_buggy_variant_fails_with_the_timeline_and_saves_the_case(made, project):
    (project / "tests" / "test_buggy.py").write_text(BUGGY)
    out = pytest_in(made, project, "-q", "--panicfuzz-profile", "tiny", "tests/test_buggy.py", code=1)
    [new] = sorted((project / "cases" / "nmi_lock" / "irqsave").glob("*.json"))
    name = str(new.relative_to(project))
    assert "nmi_lock/irqsave claims to hold, but the search found a deadlock after" in out
    assert "nmi_lock / irqsave: DEADLOCK" in out and "> NMI (NMI)" in out  # the timeline
    assert f"saved: {name}\nreplay: panicfuzz replay {name}" in out and "Traceback" not in out
    # the new case reproduces, and contradicts the claim: its item fails
    with pytest.raises(CaseFailed, match=re.escape(f"nmi_lock/irqsave claims to hold, but this case fails it ({new.stem})")):
        check_case(new, project)


SAVER = """\
import json, sys, time
from pathlib import Path
from panicfuzz.pytest_plugin import _save

tmp, case, me, extra = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), int(sys.argv[3]), int(sys.argv[4])
data = json.loads(json.dumps(case))  # the same bug, `extra` idle steps longer
data["trace"] += ["cpu0"] * extra
data["kinds"] += "d" * extra
data["failure"]["steps"] += extra
for r in range(ROUNDS):
    (tmp / f"ready-{r}-{me}").touch()
    while not (tmp / f"ready-{r}-{1 - me}").exists():  # both save round r's case at once
        time.sleep(0.0005)
    _save(tmp / str(r), data)
"""


def test_two_workers_saving_one_bug_keep_the_smallest_reproducer(made, tmp_path):
    """As two xdist workers whose fuzz tests find the same bug at the same moment: the size
    comparison and the write are one step, so the smaller case is kept, and no file is torn."""
    case = min((made[0] / "cases" / "nmi_lock" / "spin_lock").glob("*.json"))
    rounds = 20
    script = SAVER.replace("ROUNDS", str(rounds))
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(case), str(me), str(me)], env=made[1]) for me in (0, 1)]
    assert [w.wait() for w in workers] == [0, 0]
    trace = json.loads(case.read_text())["trace"]
    for r in range(rounds):
        [saved] = [p for p in (tmp_path / str(r)).rglob("*") if p.is_file()]  # no temporary file left
        assert saved.relative_to(tmp_path / str(r)) == case.relative_to(made[0] / "cases")
        assert json.loads(saved.read_text())["trace"] == trace, f"round {r}: the larger case was kept"
