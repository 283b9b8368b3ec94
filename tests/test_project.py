"""Done when (issue 11): a user's project outside the repository, driven through the real CLI.

The project has its own model file listed in `[tool.panicfuzz]`, and an installed
distribution (a `*.dist-info` on PYTHONPATH) registers another model as an entry
point; every command runs in a subprocess from the project's directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

EP_MODEL = '''\
from panicfuzz.cells import Cell
from panicfuzz.kernel import READ_ONCE
from panicfuzz.model import Model, Variant


class Reader(Model):
    name = "ep_reader"
    variants = (Variant("only", "holds", "one read"),)
    ncpus = 1

    def __init__(self, variant):
        super().__init__(variant)
        self.x = Cell("x", 0)

    async def cpu_main(self, cpu):
        await READ_ONCE(self.x)
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    proj, site = root / "proj", root / "site"
    (proj / "models").mkdir(parents=True)
    shutil.copy(DOCS / "nmi_lock.py", proj / "models" / "nmi_lock.py")
    (proj / "pyproject.toml").write_text('[tool.panicfuzz]\nmodels = ["models/nmi_lock.py"]\ncorpus = "cases"\n')
    dist = site / "ep_models-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "ep_models.py").write_text(EP_MODEL)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-models\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[panicfuzz.models]\nep_reader = ep_models:Reader\n")
    return proj, site


def panicfuzz(project, *argv: str, code: int = 0) -> str:
    proj, site = project
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PANICFUZZ_CORPUS", None)
    done = subprocess.run([sys.executable, "-m", "panicfuzz", *argv], cwd=proj, env=env, capture_output=True, text=True)
    assert done.returncode == code, f"panicfuzz {' '.join(argv)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_users_project_end_to_end(project):
    proj, _ = project
    rows = json.loads(panicfuzz(project, "list", "--json"))["variants"]
    origins = {r["protocol"]: r["origin"] for r in rows}
    assert origins["hpet"] == "shipped"
    assert origins["nmi_lock"] == "pyproject.toml"
    assert origins["ep_reader"] == "entry point ep-models"

    [searched] = json.loads(panicfuzz(project, "fuzz", "nmi_lock", "--variant", "spin_lock", "--max-schedules", "50", "--first", "--json"))["variants"]
    [found] = searched["new"]
    assert searched["as_expected"] and found["kind"] == "deadlock"
    case = proj / found["corpus_file"]
    assert case.parent == proj / "cases" / "nmi_lock" / "spin_lock"  # [tool.panicfuzz] corpus
    assert json.loads(case.read_text())["model"] == {"name": "nmi_lock", "ref": "models/nmi_lock.py:NmiLock"}

    [again] = json.loads(panicfuzz(project, "replay", str(case), "--json"))["cases"]
    assert again["answer"] == "reproduced" and again["identical"]
    [fixed] = json.loads(panicfuzz(project, "replay", str(case), "--variant", "trylock", "--json"))["cases"]
    assert fixed["ok"] and fixed["answer"] in ("survived", "weak") and fixed["failure"] is None

    [verdict] = json.loads(panicfuzz(project, "verify", "nmi_lock", "--variant", "trylock", "--preemptions", "1", "--events", "1", "--json"))["variants"]
    assert verdict["answer"] == "holds" and verdict["complete"]

    [shrunk] = json.loads(panicfuzz(project, "shrink", str(case), "--json"))["cases"]
    assert shrunk["reproduced"] and shrunk["minimal"] is True

    [reader] = json.loads(panicfuzz(project, "fuzz", "ep_reader", "--max-schedules", "3", "--json"))["variants"]
    assert reader["new"] == [] and reader["as_expected"]

    out = panicfuzz(project, "campaign", "--max-schedules", "60", "--round-schedules", "20")
    assert "Observation nmi_lock/spin_lock Sometimes" in out and "Observation nmi_lock/trylock Never" in out
    assert "ep_reader" not in out and "hpet" not in out  # the project's models only
    assert (proj / "cases" / ".campaign" / "state").exists()
