"""The pytest plugin (entry point `pytest11: panicfuzz`): corpus cases as test items, and fuzzing in a test.

Corpus cases. A corpus is asked for with `--panicfuzz-corpus DIR` (repeatable), else the ini
option `panicfuzz_corpus`, else `[tool.panicfuzz] corpus` in the rootdir's pyproject.toml;
with none of them the plugin collects nothing. Every `*.json` file pytest visits under a corpus
is one item, `<corpus>/<protocol>/<variant>/<signature>.json::replay`. A corpus named on the
command line is always collected; one from a configuration file by pytest's default collection
at the rootdir (also outside `testpaths`), and otherwise where the paths given reach it.

An item passes when the case reproduces on its variant with an identical event log, and every
variant of its model claimed to hold survives the schedule. A survival only after the schedule
diverged (the variant removed its window: weak) is a `PanicfuzzWeakSurvival` warning, a report
section and a user property, and a failure under `--panicfuzz-strict`. Whatever fails is
reported in words (what differed, the replay command), never as an engine traceback.

Fuzzing. The `panicfuzz` fixture searches (model, variant) with the current profile's budget
(`--panicfuzz-profile`, else $PANICFUZZ_PROFILE, else the ini option `panicfuzz_profile`, else
"dev"; `register_profile()` adds one) and fails, with the timeline and the replay command, when
the outcome is not the one the variant claims. Each finding is saved to the corpus (the first
configured one) the moment it is shrunk: atomically, under a lock on its directory, so xdist
workers may fuzz side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from .errors import UsageError

if TYPE_CHECKING:
    from .model import Model
    from .search import Finding

# The engine is imported when a case runs or a test fuzzes, not when pytest starts: a project
# that merely has panicfuzz installed pays nothing for it.

# -- profiles ------------------------------------------------------------------------------


@attrs.frozen
class Profile:
    """A search budget for the `panicfuzz` fixture."""

    name: str
    max_schedules: int
    strategy: str = "hypothesis"
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.max_schedules, int) or self.max_schedules < 1:
            raise ValueError(f"profile {self.name!r}: max_schedules must be an int >= 1, not {self.max_schedules!r}")


_profiles: dict[str, Profile] = {}


def register_profile(name: str, *, parent: str | None = None, **fields) -> Profile:
    """Register (or replace) a named budget: `max_schedules`, `strategy`, `seed`; unset fields
    come from `parent` (a registered profile). Call it from a conftest.py, as Hypothesis' own."""
    base = attrs.asdict(get_profile(parent)) if parent is not None else {}
    profile = Profile(**{**base, **fields, "name": name})
    _profiles[name] = profile
    return profile


def get_profile(name: str) -> Profile:
    try:
        return _profiles[name]
    except KeyError:
        raise UsageError(f"no panicfuzz profile {name!r}; registered: {', '.join(_profiles)}") from None


register_profile("dev", max_schedules=300)
register_profile("ci", max_schedules=1000)
register_profile("nightly", max_schedules=20000)


# -- options ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("panicfuzz", "panicfuzz: corpus cases as tests, fuzzing in tests")
    group.addoption(
        "--panicfuzz-corpus", action="append", default=[], metavar="DIR",
        help="collect the cases of this corpus as test items (repeatable; default: ini panicfuzz_corpus, "
        "else [tool.panicfuzz] corpus of the rootdir's pyproject.toml, else none)",
    )
    group.addoption("--panicfuzz-profile", metavar="NAME", help="search budget of the panicfuzz fixture (dev, ci, nightly or registered)")
    group.addoption("--panicfuzz-strict", action="store_true", help="a case that a fix survives only after a divergence (weak) fails")
    parser.addini("panicfuzz_corpus", type="paths", default=[], help="corpus directories whose cases are collected as test items")
    parser.addini("panicfuzz_profile", default="dev", help="search budget of the panicfuzz fixture (default: dev)")


@attrs.frozen
class Settings:
    corpora: tuple[Path, ...]  # resolved; the first is where the fixture saves findings
    strict: bool


_SETTINGS = pytest.StashKey[Settings]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "panicfuzz_case: a corpus case collected by the panicfuzz plugin")
    given = [Path(d).resolve() for d in config.getoption("panicfuzz_corpus")]
    for d, name in zip(given, config.getoption("panicfuzz_corpus")):
        if not d.is_dir():
            raise pytest.UsageError(f"--panicfuzz-corpus {name}: no such directory")
    configured = [Path(d).resolve() for d in config.getini("panicfuzz_corpus")]
    if not given and not configured:
        configured = [p for p in [_project_corpus(config.rootpath)] if p is not None]
    corpora = tuple(dict.fromkeys(given or configured))
    config.stash[_SETTINGS] = Settings(corpora, config.getoption("panicfuzz_strict"))
    # A corpus outside the paths pytest collects is added to them: always when named on the
    # command line; when configured in a file, to pytest's default collection (`testpaths`,
    # at the rootdir), not to the paths given or to a run from a subdirectory.
    wanted = corpora if config.args_source == pytest.Config.ArgsSource.TESTPATHS else given
    collected = [Path(a.split("::")[0]).resolve() for a in config.args]
    for d in wanted:
        if d.is_dir() and not any(d.is_relative_to(c) for c in collected):
            config.args.append(str(d))


def _project_corpus(rootpath: Path) -> Path | None:
    """[tool.panicfuzz] corpus of the rootdir's own pyproject.toml (read by the loader only when
    the table is there: a project without one never imports the engine)."""
    try:
        table = tomllib.loads((rootpath / "pyproject.toml").read_text()).get("tool", {}).get("panicfuzz")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # pytest reads the same file and says what is wrong with it
    if table is None:
        return None
    from . import loader

    try:
        p = loader.project(rootpath)
    except UsageError as e:
        raise pytest.UsageError(f"panicfuzz: {e}") from None
    return p.corpus.resolve() if p is not None and p.corpus is not None else None


# -- corpus cases as items -------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix != ".json":
        return None
    settings = parent.config.stash[_SETTINGS]
    if any(file_path.resolve().is_relative_to(c) for c in settings.corpora):
        return CorpusFile.from_parent(parent, path=file_path)
    return None


class CorpusFile(pytest.File):
    """One corpus case file: one item, `replay`."""

    def collect(self) -> Iterator[pytest.Item]:
        yield CorpusCase.from_parent(self, name="replay")


class CaseFailed(Exception):
    """A case that did not behave: the message is the whole report."""


class PanicfuzzWeakSurvival(pytest.PytestWarning):
    """A variant claimed to hold survived a case only after its schedule diverged."""


class CorpusCase(pytest.Item):
    """The case must reproduce identically, and every variant claimed to hold must survive it."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.add_marker("panicfuzz_case")

    def runtest(self) -> None:
        settings = self.config.stash[_SETTINGS]
        for line in check_case(self.path, self.config.rootpath, strict=settings.strict):
            self.add_report_section("call", "panicfuzz", line)
            self.user_properties.append(("panicfuzz_weak", line))
            # at the case file (the item's location), which the line need not repeat
            self.warn(PanicfuzzWeakSurvival(line.removeprefix(f"{_show(self.path)} on ")))

    def repr_failure(self, excinfo, style=None):
        from . import corpus, scenarios

        if isinstance(excinfo.value, (CaseFailed, UsageError, corpus.CorpusError, scenarios.ScenarioError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"panicfuzz case {_show(self.path)}"


def check_case(path: Path, start: Path | None = None, *, strict: bool = False) -> list[str]:
    """Replay one case as the item does; raises CaseFailed (or the loader's, corpus' one-line
    error); returns the weak survivals, in words."""
    from . import corpus, loader, scenarios
    from .commands.replay import divergence, replay
    from .machine import NondeterministicModel
    from .render import replay_entry, replay_line
    from .timeline import timeline_of

    path = Path(_show(path))  # as the user names it, in every message
    data = corpus.load(path)
    model_cls = scenarios.from_record(loader.case_model(data, path, start), data, str(path))
    corpus.check_model(path, data, model_cls)
    trace = corpus.trace_of(path, data)
    own, shown = data["variant"], str(path)
    command = f"replay: panicfuzz replay {shown}"
    try:
        result, _ = replay(path, model_cls, own, data, trace)
    except (NondeterministicModel, corpus.CorpusError) as e:
        raise CaseFailed(f"{shown}: NOT reproduced on {model_cls.name}/{own}: {e}\n{command}") from None
    entry = replay_entry(path, data, own, result, None, strict=True)
    if not entry["ok"]:
        raise CaseFailed(_not_reproduced(path, data, model_cls, result, command))
    info = model_cls.variant_info(own)
    if info.expected == "holds":
        raise CaseFailed(
            f"{shown}: {model_cls.name}/{own} claims to hold, but this case fails it ({data['failure']['signature']}): "
            f"fix the variant or its claim\n{command}"
        )
    weak = []
    for v in model_cls.variants:
        if v.expected != "holds":
            continue
        result, source = replay(path, model_cls, v.name, data, trace)
        entry = replay_entry(path, data, v.name, result, divergence(data, result, source), strict=strict)
        if not entry["ok"]:
            drawn = f"\n\n{timeline_of(model_cls, v.name, result)}\n" if result.failed else ""
            raise CaseFailed(
                f"{replay_line({**entry, 'file': shown})}\n{model_cls.name}/{v.name} claims to hold.{drawn}\n"
                f"{command} --variant {v.name}" + (" --strict" if entry["answer"] == "weak" else "")
            )
        if entry["answer"] == "weak":
            weak.append(replay_line({**entry, "file": shown}))
    return weak


def _not_reproduced(path: Path, data: dict, model_cls, result, command: str) -> str:
    """What differed between the saved failure and the replay, and how to look closer."""
    from .timeline import timeline_of

    saved = data["failure"]
    shown, variant = _show(path), data["variant"]
    lines = [f"{shown}: NOT reproduced on {model_cls.name}/{variant}"]
    lines.append(f"  saved:  {saved['signature']}: {saved['message'].splitlines()[0] if saved['message'] else saved['kind']}")
    if result.signature == saved["signature"]:
        lines.append("  replay: the same failure, but the event log differs (the model's behaviour changed)")
    elif result.failed:
        lines.append(f"  replay: {result.signature}: {result.outcome.message.splitlines()[0]}")
    else:
        lines.append(f"  replay: no failure ({result.size.steps} steps): the schedule no longer fails {variant}")
    if result.failed:
        lines += ["", timeline_of(model_cls, variant, result), ""]
    lines += [command, f"saved timeline: panicfuzz show {shown}"]
    return "\n".join(lines)


def _show(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- fuzzing in a test -------------------------------------------------------------------------


@attrs.frozen
class Fuzzed:
    """What one fuzz of a variant did: its findings (saved as `files`) and the schedules run."""

    protocol: str
    variant: str
    findings: tuple[Finding, ...]
    files: tuple[str, ...]
    schedules: int


class _Decided(Exception):
    """Raised from the search's on_finding once the variant's claim is decided."""


@attrs.define
class Fuzzer:
    """The `panicfuzz` fixture: `panicfuzz.fuzz(model, variant)` in a test."""

    profile: Profile
    corpus: Path
    rootpath: Path

    def fuzz(self, model: str | type[Model], variant: str | None = None, **budget) -> list[Fuzzed]:
        """Search `variant` (default: every variant) of `model` (a class or a reference, relative
        to the rootdir) with the profile's budget (`max_schedules`, `strategy`, `seed` override it);
        fails the test, with each timeline and replay command, unless every variant's outcome is
        the one it claims."""
        __tracebackhide__ = True
        from . import corpus, loader

        try:
            profile = attrs.evolve(self.profile, **budget)
            model_cls = loader.resolve(model, self.rootpath)
            names = [v.name for v in model_cls.variants]
            if variant is not None and variant not in names:
                raise UsageError(f"{model_cls.name} has no variant {variant!r}; known: {', '.join(names)}")
            corpus.check_root(self.corpus)
        except (UsageError, corpus.CorpusError, ValueError, TypeError) as e:
            pytest.fail(f"panicfuzz: {e}", pytrace=False)
        done, problems = [], []
        for v in [variant] if variant is not None else names:
            fuzzed, problem = self._one(model_cls, v, profile)
            done.append(fuzzed)
            if problem:
                problems.append(problem)
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
        return done

    def _one(self, model_cls: type[Model], variant: str, profile: Profile) -> tuple[Fuzzed, str | None]:
        from . import corpus, scenarios
        from .commands.fuzz import UNPROVEN, _known, _reproducing
        from .search import search
        from .timeline import timeline_of

        info = model_cls.variant_info(variant)
        findings: list[Finding] = []
        files: list[str] = []
        counted = [0]

        def keep(f: Finding) -> None:
            bound = scenarios.bind(model_cls, f.scenario)
            path = _save(self.corpus, corpus.record(f, model_cls, timeline_of(bound, variant, f.result)))
            findings.append(f)
            files.append(_show(path))
            if info.expected == "holds" or f.result.outcome.kind == info.kind:
                raise _Decided

        with contextlib.suppress(_Decided):
            search(
                model_cls, variant, strategy=profile.strategy, max_schedules=profile.max_schedules, seed=profile.seed,
                on_finding=keep, progress=lambda n, _: counted.__setitem__(0, n), skip_kinds=frozenset({UNPROVEN}),
            )
        fuzzed = Fuzzed(model_cls.name, variant, tuple(findings), tuple(files), counted[0])
        budget = f"profile {profile.name}: {profile.strategy}, seed {profile.seed}, {profile.max_schedules} schedules"
        if info.expected == "holds":
            if not findings:
                return fuzzed, None
            f, path = findings[0], files[0]
            head = f"{model_cls.name}/{variant} claims to hold, but the search found a {f.result.outcome.kind} after {f.schedules} schedules ({budget})"
            return fuzzed, _finding_text(head, model_cls, f, path)
        if any(f.result.outcome.kind == info.kind for f in findings):
            return fuzzed, None
        known = _known(self.corpus, model_cls, variant)
        if _reproducing(model_cls, variant, info.kind, known) is not None:
            return fuzzed, None  # the budget missed it, a saved case still shows it (as `panicfuzz fuzz`)
        head = f"{model_cls.name}/{variant} claims to fail with a {info.kind}, but {counted[0]} schedules found none ({budget})"
        others = [_finding_text(f"found instead: a {f.result.outcome.kind}", model_cls, f, p) for f, p in zip(findings, files)]
        return fuzzed, "\n\n".join([head, *others])


def _finding_text(head: str, model_cls: type[Model], f: Finding, path: str) -> str:
    from . import scenarios
    from .timeline import timeline_of

    bound = scenarios.bind(model_cls, f.scenario)
    return f"{head}\n\n{timeline_of(bound, f.variant, f.result)}\n\nsaved: {path}\nreplay: panicfuzz replay {path}"


def _save(root: Path, data: dict) -> Path:
    """`corpus.save` under an exclusive lock on the case's directory: two processes saving the
    same signature compare sizes one after the other (each write is atomic anyway)."""
    from . import corpus

    directory = corpus.path_for(root, data["protocol"], data["variant"], data["failure"]["signature"]).parent
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path, _ = corpus.save(root, data)
    finally:
        os.close(fd)  # releases the lock
    return path


@pytest.fixture
def panicfuzz(request: pytest.FixtureRequest) -> Fuzzer:
    """Fuzz a model's variants in a test: `panicfuzz.fuzz("models/x.py:X", "fixed")`."""
    config = request.config
    name = config.getoption("panicfuzz_profile") or os.environ.get("PANICFUZZ_PROFILE") or config.getini("panicfuzz_profile")
    from . import loader

    try:
        profile = get_profile(name)
        corpora = config.stash[_SETTINGS].corpora
        save_to = corpora[0] if corpora else loader.default_corpus(config.rootpath).resolve()
    except UsageError as e:
        pytest.fail(f"panicfuzz: {e}", pytrace=False)
    return Fuzzer(profile, save_to, config.rootpath)
