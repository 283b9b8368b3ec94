"""Model references, project config and the model contract: every broken model is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from panicfuzz import loader
from panicfuzz.cli import main
from panicfuzz.errors import ModelLoadError

# A minimal valid model; the broken cases below replace one of its lines.
GOOD = '''\
from panicfuzz.cells import Cell
from panicfuzz.kernel import READ_ONCE, WRITE_ONCE
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant


class Tiny(Model):
    name = "tiny"
    variants = (Variant("racy", "fails", "a lost update", kind="invariant"), Variant("fixed", "holds", "nothing to race"))
    ncpus = 1

    def __init__(self, variant):
        super().__init__(variant)
        self.x = Cell("x", 0)

    async def cpu_main(self, cpu):
        await WRITE_ONCE(self.x, await READ_ONCE(self.x) + 1)

    async def tick(self):
        await READ_ONCE(self.x)

    nmi_entry = tick
    events = (Event("NMI", Kind.NMI),)
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panicfuzz: error: "), err
    return lines[0]


BROKEN = [
    # (what, replace this, with this, the message names)
    ("missing name", '    name = "tiny"\n', "", "tiny.py:7: Tiny.name is missing"),
    ("missing ncpus", "    ncpus = 1\n", "", "tiny.py:7: Tiny.ncpus is missing"),
    ("missing variants", '    variants = (Variant("racy", "fails", "a lost update", kind="invariant"), Variant("fixed", "holds", "nothing to race"))\n', "", "Tiny.variants is missing"),
    ("no variants", "Variant(\"racy\", \"fails\", \"a lost update\", kind=\"invariant\"), Variant(\"fixed\", \"holds\", \"nothing to race\")", "", "Tiny.variants is (), not a non-empty tuple"),
    ("a variant without a claim", 'Variant("fixed", "holds", "nothing to race")', '"fixed"', "Tiny.variants[1] is 'fixed', not a panicfuzz.model.Variant"),
    ("a claim that is no outcome", '"holds", "nothing', '"maybe", "nothing', "tiny.py:9: cannot load model: ValueError: variant fixed: expected must be one of"),
    ("an unknown failure kind", 'kind="invariant"', 'kind="crash"', "Tiny.variants[0] (racy) fails with kind 'crash'"),
    ("a repeated variant", 'Variant("fixed"', 'Variant("racy"', "Tiny.variants[1] repeats the variant name 'racy'"),
    ("a bad variant name", 'Variant("fixed"', 'Variant("../up"', "Tiny.variants[1] has name '../up'"),
    ("a bad protocol name", 'name = "tiny"', 'name = "my model"', "Tiny.name is 'my model'"),
    ("zero CPUs", "ncpus = 1", "ncpus = 0", "Tiny.ncpus is 0, not a number of CPUs"),
    ("an event name that is not allowed", 'Event("NMI"', 'Event("NMI@cpu0"', "tiny.py:23: cannot load model: ValueError: event name 'NMI@cpu0' may not contain '@'"),
    ("an event that is no Event", 'events = (Event("NMI", Kind.NMI),)', 'events = ("NMI",)', "Tiny.events[0] is 'NMI', not a panicfuzz.model.Event"),
    ("a repeated event", 'events = (Event("NMI", Kind.NMI),)', 'events = (Event("NMI", Kind.NMI), Event("NMI", Kind.IRQ, tick))', "Tiny.events[1] repeats the event name 'NMI'"),
    ("a stall named as an event", 'events = (Event("NMI", Kind.NMI),)', 'events = (Event("NMI", Kind.NMI),)\n    from panicfuzz.model import Stall\n    stalls = (Stall("NMI", (1,)),)', "Tiny.stalls[0] repeats the name 'NMI'"),
    ("a stall of a CPU that is not there", 'events = (Event("NMI", Kind.NMI),)', 'events = (Event("NMI", Kind.NMI),)\n    from panicfuzz.model import Stall\n    stalls = (Stall("smi", (1,), cpus=(3,)),)', "Tiny.stalls[0] (smi) has cpus (3,), not CPU numbers below ncpus (1)"),
    ("a bad settle_after_goal", "    ncpus = 1\n", "    ncpus = 1\n    settle_after_goal = -1\n", "Tiny.settle_after_goal is -1, not a number of steps"),
    ("no cpu_main", "    async def cpu_main(self, cpu):\n        await WRITE_ONCE(self.x, await READ_ONCE(self.x) + 1)\n", "", "Tiny.cpu_main is missing"),
    ("cpu_main not async", "    async def cpu_main(self, cpu):\n        await WRITE_ONCE(self.x, await READ_ONCE(self.x) + 1)\n", "    def cpu_main(self, cpu):\n        pass\n", "Tiny.cpu_main must be a coroutine function"),
    ("a bad seed", "    ncpus = 1\n", "    ncpus = 1\n    seed = 'x'\n", "Tiny.seed is 'x', not an int"),
    ("an __init__ that raises", '        self.x = Cell("x", 0)\n', '        self.x = Cell("x", 0)\n        1 / 0\n', "tiny.py:15: Tiny('racy') raised ZeroDivisionError: division by zero"),
    ("a syntax error", "    ncpus = 1\n", "    ncpus = = 1\n", "tiny.py:10: cannot load model: SyntaxError: invalid syntax"),
    ("an import that fails", "from panicfuzz.cells import Cell\n", "from panicfuzz.cells import Cell, Nope\n", "tiny.py:1: cannot load model: ImportError: cannot import name 'Nope'"),
    ("an exception at import", "class Tiny(Model):\n", "raise RuntimeError('half-written')\nclass Tiny(Model):\n", "tiny.py:7: cannot load model: RuntimeError: half-written"),
]


@pytest.mark.parametrize("what, old, new, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_model_is_one_line_naming_file_class_and_attribute(capsys, tmp_path, monkeypatch, what, old, new, message):
    assert old in GOOD
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tiny.py", GOOD.replace(old, new))
    assert message in one_line_error(capsys, "verify", "tiny.py", "--preemptions", "0")


@pytest.mark.parametrize(
    "ref, message",
    [
        ("nope.py", "nope.py: no such file"),
        ("tiny.py:Missing", "tiny.py: has no class 'Missing'"),
        ("tiny.py:Cell", "tiny.py: Cell is not a panicfuzz.model.Model subclass"),
        ("two.py", "two.py: defines several models (A, B); name one, e.g. two.py:A"),
        ("nopkg.mod:Cls", "cannot import 'nopkg.mod': no module named 'nopkg'"),
        ("nothing", "unknown protocol 'nothing'; known: hpet, console"),
    ],
)
def test_a_reference_that_does_not_resolve(capsys, tmp_path, monkeypatch, ref, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tiny.py", GOOD)
    write(tmp_path / "two.py", GOOD.replace("class Tiny(Model):", "class A(Model):") + "\n\nclass B(A):\n    name = 'b'\n")
    assert message in one_line_error(capsys, "fuzz", ref, "--max-schedules", "1")


def test_references_resolve_a_file_a_class_in_it_a_module_and_a_name(tmp_path, monkeypatch):
    write(tmp_path / "models" / "tiny.py", GOOD.replace("import Cell\n", "import Cell\nfrom helper import STEP  # a helper module beside the model\n"))
    write(tmp_path / "models" / "helper.py", "STEP = 1\n")
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "util.py", "STEP = 1\n")
    write(tmp_path / "pkg" / "m.py", GOOD.replace('"tiny"', '"pkg_tiny"').replace("import Cell\n", "import Cell\nfrom .util import STEP\n"))
    write(tmp_path / "pyproject.toml", '[tool.panicfuzz]\nmodels = ["models/tiny.py"]\n')
    monkeypatch.chdir(tmp_path / "models")  # the project is found upwards; its paths are relative to it
    tiny = loader.resolve("tiny")
    assert loader.resolve("tiny.py") is tiny and loader.resolve("tiny.py:Tiny") is tiny
    assert loader.resolve(tiny) is tiny and tiny.seed is None
    assert loader.resolve("../pkg/m.py").name == "pkg_tiny"  # inside a package: relative imports work
    assert loader.resolve("pkg.m:Tiny") is loader.resolve("../pkg/m.py")
    assert loader.resolve("hpet").__module__ == "panicfuzz.protocols.hpet"
    assert loader.reference(tiny) == {"name": "tiny", "ref": "models/tiny.py:Tiny"}
    assert loader.reference(loader.resolve("hpet")) == {"name": "hpet", "ref": "panicfuzz.protocols.hpet:Hpet"}


def test_two_models_with_one_name_name_both_places(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tiny.py", GOOD.replace('"tiny"', '"hpet"'))
    write(tmp_path / "pyproject.toml", '[tool.panicfuzz]\nmodels = ["tiny.py"]\n')
    line = one_line_error(capsys, "verify", "hpet")
    assert "two models are named 'hpet': shipped (panicfuzz.protocols.hpet:Hpet) and pyproject.toml (tiny.py)" in line


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[tool.panicfuzz]\nmodel = []\n", "pyproject.toml: [tool.panicfuzz] has no setting 'model'; known: models, corpus"),
        ("[tool.panicfuzz]\nmodels = 'tiny.py'\n", "pyproject.toml: [tool.panicfuzz] models must be a list of model references"),
        ("[tool.panicfuzz]\ncorpus = 3\n", "pyproject.toml: [tool.panicfuzz] corpus must be a directory name, not 3"),
        ("[tool.panicfuzz\n", "pyproject.toml: not TOML"),
    ],
)
def test_a_bad_project_config_is_one_line(capsys, tmp_path, monkeypatch, toml, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", toml)
    assert message in one_line_error(capsys, "list")


def test_a_broken_model_does_not_take_down_the_others(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tiny.py", GOOD)
    write(tmp_path / "broken.py", GOOD.replace("ncpus = 1", "ncpus = = 1"))
    write(tmp_path / "pyproject.toml", '[tool.panicfuzz]\nmodels = ["tiny.py", "broken.py"]\ncorpus = "cases"\n')
    code, out, err = run(capsys, "list", "--json")
    assert code == 2
    assert {r["protocol"] for r in json.loads(out)["variants"]} >= {"hpet", "tiny"}
    assert err.strip() == "panicfuzz: error: broken.py:10: cannot load model: SyntaxError: invalid syntax (in pyproject.toml)"
    # fuzz and campaign with no protocol take the project's models: the good one runs, the broken one is reported
    code, out, err = run(capsys, "fuzz", "--max-schedules", "5", "--json")
    assert code == 2 and "broken.py:10" in err and {r["protocol"] for r in json.loads(out)["variants"]} == {"tiny"}
    code, out, err = run(capsys, "campaign", "--max-schedules", "5", "--round-schedules", "5")
    assert code == 2 and "broken.py:10" in err and "Observation tiny/racy" in out
    assert (tmp_path / "cases" / ".campaign" / "state").exists()  # [tool.panicfuzz] corpus
    # the unknown-protocol error still works, and says what did not load
    line = one_line_error(capsys, "fuzz", "nothing")
    assert "unknown protocol 'nothing'; known: hpet" in line and "tiny" in line and "not loaded: broken.py:10" in line


def test_a_broken_shipped_module_is_reported_and_helpers_are_not_models(tmp_path, monkeypatch):
    from panicfuzz import protocols

    monkeypatch.setattr(protocols, "modules", lambda: ("hpet", "_private", "broken_helper", "helper"))
    monkeypatch.setattr(loader, "_import_module", _fake_imports(loader._import_module))
    loader.shipped_entry.cache_clear()
    try:
        entries = {e.name: e for e in loader.catalogue(tmp_path)}
    finally:
        loader.shipped_entry.cache_clear()
    assert entries["hpet"].model is not None
    assert "helper" not in entries  # a module without a Model named like it
    assert "cannot load model: NameError" in entries["broken_helper"].error


def _fake_imports(real):
    import types

    def fake(dotted):
        if dotted.endswith(".helper"):
            return types.ModuleType(dotted)
        if dotted.endswith(".broken_helper"):
            try:
                exec("undefined_name", {})
            except NameError as e:
                raise ModelLoadError(loader._import_error(e, None)) from None
        return real(dotted)

    return fake


def test_default_corpus_config_then_environment_then_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PANICFUZZ_CORPUS", raising=False)
    assert loader.default_corpus() == Path("corpus")
    monkeypatch.setenv("PANICFUZZ_CORPUS", "/somewhere")
    assert loader.default_corpus() == Path("/somewhere")
    write(tmp_path / "pyproject.toml", '[tool.panicfuzz]\ncorpus = "cases"\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert loader.default_corpus().resolve() == tmp_path / "cases"


def test_the_repository_configures_its_own_corpus():
    root = Path(__file__).resolve().parent.parent
    assert loader.default_corpus(root / "tests").resolve() == root / "corpus"


def test_a_case_records_its_model_and_finds_it_again(capsys, tmp_path, monkeypatch):
    relock = "await WRITE_ONCE(self.x, 1)\n        if self.variant == 'racy':\n            await raw_spin_lock(self.lock)\n            await raw_spin_lock(self.lock)"
    model = GOOD.replace("WRITE_ONCE\n", "WRITE_ONCE, raw_spin_lock\nfrom panicfuzz.cells import raw_spinlock_t\n")
    model = model.replace('Cell("x", 0)', 'Cell("x", 0)\n        self.lock = raw_spinlock_t("lock")').replace('kind="invariant"', 'kind="deadlock"')
    write(tmp_path / "proj" / "models" / "tiny.py", model.replace("await WRITE_ONCE(self.x, await READ_ONCE(self.x) + 1)", relock))
    write(tmp_path / "proj" / "pyproject.toml", '[tool.panicfuzz]\nmodels = ["models/tiny.py"]\n')
    monkeypatch.chdir(tmp_path / "proj")
    code, out, _ = run(capsys, "fuzz", "tiny", "--variant", "racy", "--max-schedules", "5", "--first", "--json")
    assert code == 0  # the claimed failure was found
    [found] = json.loads(out)["variants"][0]["new"]
    case = Path(found["corpus_file"]).resolve()
    assert json.loads(case.read_text())["model"] == {"name": "tiny", "ref": "models/tiny.py:Tiny"}
    monkeypatch.chdir(tmp_path)  # outside the project: found from the case file's own project
    code, out, _ = run(capsys, "replay", str(case), "--json")
    assert code == 0 and json.loads(out)["cases"][0]["identical"]
    lost = write(tmp_path / "elsewhere" / "case.json", case.read_text())
    line = one_line_error(capsys, "replay", str(lost))
    assert "model 'tiny' (models/tiny.py:Tiny) is not found from here" in line and "pass --model REF" in line
    code, out, _ = run(capsys, "replay", str(lost), "--model", "proj/models/tiny.py", "--json")
    assert code == 0 and json.loads(out)["cases"][0]["identical"]


def test_the_python_api_takes_references(tmp_path, monkeypatch):
    from panicfuzz.search import verify
    from panicfuzz.stateful import schedule_machine

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tiny.py", GOOD)
    assert verify("tiny.py", "fixed", preemptions=0, events=0).holds
    assert schedule_machine("tiny.py:Tiny", "fixed").__name__ == "ScheduleMachine_tiny_fixed"


def test_python_m_panicfuzz_version():
    done = subprocess.run([sys.executable, "-m", "panicfuzz", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("panicfuzz ")


def test_installed_shipped_models_count_as_model_code(monkeypatch):
    """Installed, panicfuzz/protocols/ is inside the engine's directory: its frames are still the model's."""
    import os

    from panicfuzz import machine

    engine = Path(machine.__file__).parent
    monkeypatch.setattr(machine, "_MODEL_DIRS", (str(engine / "protocols") + os.sep,))  # the installed layout
    assert machine._is_model_code(str(engine / "protocols" / "hpet.py"))
    assert not machine._is_model_code(str(engine / "kernel.py"))
    assert machine._is_model_code(str(engine.parent / (engine.name + "_models") / "m.py"))  # a sibling is not the engine
