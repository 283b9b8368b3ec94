"""Where models come from: a reference resolves to one model class, checked against the contract.

A model reference is one of

  hpet                          a name: a shipped model (`panicfuzz.protocols.hpet`), an entry
                                point of group `panicfuzz.models` of an installed distribution
                                (name = protocol name, value = `module:Class`), or a model listed
                                in `[tool.panicfuzz] models` of the project's pyproject.toml
  models/nmi_lock.py[:NmiLock]  a file (the class may be omitted when the file holds one model)
  mypkg.models.nmi_lock:NmiLock a module (likewise `mypkg.models.nmi_lock` alone)

The project is the nearest pyproject.toml, from the current directory upwards, that has a
`[tool.panicfuzz]` table: `models = [...]` (references as above, paths relative to that file) and
`corpus = "..."` (the default corpus directory). A model file may import helper modules and
packages beside it (its directory, or the root of the package it is in, goes on `sys.path`).

Whatever goes wrong is a `ModelLoadError`: one line naming the file (and line), the class and
the attribute. `catalogue()` lists every visible model with its class or its error, so that one
broken model never hides the others.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import tomllib
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import attrs

from panicfuzz import protocols

from . import scenarios
from .claims import bad_name
from .errors import ModelLoadError
from .machine import Kind, _is_model_code
from .model import FAILURE_KINDS, OUTCOMES, Event, Model, Stall, Variant

GROUP = "panicfuzz.models"
SETTINGS = ("models", "corpus")  # the keys [tool.panicfuzz] may have
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")  # a protocol or variant name: one path component


class UnknownModel(ModelLoadError):
    """A name that no shipped model, entry point or project model carries."""


@attrs.frozen
class Project:
    """The `[tool.panicfuzz]` table of a pyproject.toml."""

    path: Path
    models: tuple[str, ...] = ()
    corpus: Path | None = None

    @property
    def root(self) -> Path:
        return self.path.parent


@attrs.frozen
class Entry:
    """One model visible from a directory: its class, or why it does not load."""

    name: str
    ref: str
    origin: str  # "shipped", "entry point <distribution>", or the project's pyproject.toml
    model: type[Model] | None = None
    error: str | None = None

    @property
    def place(self) -> str:
        return f"{self.origin} ({self.ref})"


# -- the project ---------------------------------------------------------------------


def project(start: Path | None = None) -> Project | None:
    """The nearest pyproject.toml with a [tool.panicfuzz] table, from `start` (default: cwd) up."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for d in (here, *here.parents):
        path = d / "pyproject.toml"
        if path.is_file():
            table = _tool_table(path)
            if table is not None:
                return _project(path, table)
    return None


def _tool_table(path: Path) -> dict | None:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{_show(path)}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ModelLoadError(f"{_show(path)}: not TOML: {e}") from None
    table = data.get("tool", {}).get("panicfuzz")
    if table is not None and not isinstance(table, dict):
        raise ModelLoadError(f"{_show(path)}: [tool.panicfuzz] must be a table")
    return table


def _project(path: Path, table: dict) -> Project:
    for key in table:
        if key not in SETTINGS:
            raise ModelLoadError(f"{_show(path)}: [tool.panicfuzz] has no setting {key!r}; known: {', '.join(SETTINGS)}")
    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ModelLoadError(f"{_show(path)}: [tool.panicfuzz] models must be a list of model references, not {models!r}")
    corpus = table.get("corpus")
    if corpus is not None and (not isinstance(corpus, str) or not corpus):
        raise ModelLoadError(f"{_show(path)}: [tool.panicfuzz] corpus must be a directory name, not {corpus!r}")
    return Project(path, tuple(models), None if corpus is None else path.parent / corpus)


def default_corpus(start: Path | None = None) -> Path:
    """[tool.panicfuzz] corpus of the project, else $PANICFUZZ_CORPUS, else ./corpus."""
    p = project(start)
    if p is not None and p.corpus is not None:
        return Path(_show(p.corpus))
    return Path(os.environ.get("PANICFUZZ_CORPUS") or "corpus")


# -- resolving ------------------------------------------------------------------------


def resolve(ref: str | type[Model], start: Path | None = None) -> type[Model]:
    """The model class `ref` names (see the module docstring), checked against the contract.

    `start` is where relative paths and the project search begin (default: cwd).
    """
    if isinstance(ref, type):
        return validate(ref)
    if not isinstance(ref, str) or not ref:
        raise ModelLoadError(f"a model reference is a name, a file path or module:Class, not {ref!r}")
    base = Path(start) if start is not None else Path.cwd()
    if _is_path_or_module(ref):
        return _load(ref, base)
    try:
        return _by_name(ref, start)
    except UnknownModel:
        if "." in ref:  # a dotted module holding one model
            return _load(ref, base)
        raise


def catalogue(start: Path | None = None) -> list[Entry]:
    """Every model visible from `start`: shipped, then entry points, then the project's."""
    p = project(start)
    entries = [*shipped_entries(), *_entry_point_entries(), *(_project_entries(p) if p else [])]
    return _mark_duplicates(entries)


def default_entries(start: Path | None = None) -> list[Entry]:
    """What `fuzz` and `campaign` take when given no protocol: the project's models if it lists
    any, else every shipped and entry-point model."""
    p = project(start)
    entries = catalogue(start)
    if p is not None and p.models:
        return [e for e in entries if e.origin == _show(p.path)]
    return entries


def _by_name(name: str, start: Path | None) -> type[Model]:
    found: list[Entry] = []
    if name in protocols.modules():
        found.append(shipped_entry(name))
    found += [e for e in _entry_point_entries() if e.name == name]
    p = project(start)
    broken = []
    for e in _project_entries(p) if p else []:
        if e.model is not None and e.name == name:
            found.append(e)
        elif e.error is not None:
            broken.append(e)
    found = [e for e in _unique(found) if e.model is not None or e.error is not None]
    if not found:
        known = dict.fromkeys(e.name for e in catalogue(start) if e.model is not None)
        also = "".join(f"; not loaded: {e.error}" for e in broken)
        raise UnknownModel(f"unknown protocol {name!r}; known: {', '.join(known)}{also}")
    if len(found) > 1:
        raise ModelLoadError(_duplicate(name, found))
    if found[0].error is not None:
        raise ModelLoadError(found[0].error)
    assert found[0].model is not None
    return found[0].model


def _unique(entries: list[Entry]) -> list[Entry]:
    """Drop entries that load the same class as an earlier one (one model reached two ways)."""
    out: list[Entry] = []
    for e in entries:
        if e.model is None or all(o.model is not e.model for o in out):
            out.append(e)
    return out


def _mark_duplicates(entries: list[Entry]) -> list[Entry]:
    entries = _unique(entries)
    by_name: dict[str, list[Entry]] = {}
    for e in entries:
        if e.model is not None:
            by_name.setdefault(e.name, []).append(e)
    out = []
    for e in entries:
        same = by_name.get(e.name, [])
        out.append(attrs.evolve(e, error=_duplicate(e.name, same)) if e.model is not None and len(same) > 1 else e)
    return out


def _duplicate(name: str, entries: list[Entry]) -> str:
    return f"two models are named {name!r}: " + " and ".join(e.place for e in entries)


def _is_path_or_module(ref: str) -> bool:
    target, _ = _split(ref)
    return target != ref or _is_file(target)


def _split(ref: str) -> tuple[str, str | None]:
    """`target[:Class]` -> (target, Class or None)."""
    head, sep, tail = ref.rpartition(":")
    if sep and head and tail.isidentifier():
        return head, tail
    return ref, None


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _load(ref: str, base: Path) -> type[Model]:
    """A class from a file or module reference, checked."""
    target, cls_name = _split(ref)
    if _is_file(target):
        path = (base / target).resolve()
        module, where = _import_file(path), _show(path)
    else:
        module, where = _import_module(target), target
    if cls_name is not None:
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise ModelLoadError(f"{where}: has no class {cls_name!r}")
        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise ModelLoadError(f"{where}: {cls_name} is not a panicfuzz.model.Model subclass")
        return validate(cls)
    return validate(_only_model(module, where))


def _only_model(module: ModuleType, where: str) -> type[Model]:
    models = _models_in(module)
    if len(models) > 1:  # base classes without a name are not the model
        models = [c for c in models if hasattr(c, "name")] or models
    if not models:
        raise ModelLoadError(f"{where}: defines no panicfuzz.model.Model subclass")
    if len(models) > 1:
        names = ", ".join(c.__name__ for c in models)
        raise ModelLoadError(f"{where}: defines several models ({names}); name one, e.g. {where}:{models[0].__name__}")
    return models[0]


def _models_in(module: ModuleType) -> list[type[Model]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Model) and obj is not Model and obj.__module__ == module.__name__
    ]


# -- importing ------------------------------------------------------------------------

_file_modules: dict[Path, ModuleType] = {}
_loaded_from: dict[type, Path] = {}  # model classes loaded from a file -> that file


def _import_file(path: Path) -> ModuleType:
    """Import a model file once; helper modules beside it (or its package) are importable."""
    if path in _file_modules:
        return _file_modules[path]
    if not path.is_file():
        raise ModelLoadError(f"{_show(path)}: no such file")
    package = path.parent
    parts = [path.stem]
    while (package / "__init__.py").is_file():  # inside a package: import it by its dotted name
        parts.insert(0, package.name)
        package = package.parent
    if len(parts) > 1 and all(p.isidentifier() for p in parts):
        if str(package) not in sys.path:
            sys.path.insert(0, str(package))
        module = _import_module(".".join(parts))
        if Path(module.__file__ or "").resolve() != path:
            raise ModelLoadError(f"{_show(path)}: imports as {'.'.join(parts)}, which is {module.__file__}")
    else:
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        name = f"_panicfuzz_model_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"{_show(path)}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as e:
            del sys.modules[name]
            raise ModelLoadError(_import_error(e, path)) from None
    _file_modules[path] = module
    for cls in _models_in(module):
        _loaded_from.setdefault(cls, path)
    return module


def _import_module(dotted: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as e:
        if e.name is not None and (dotted == e.name or dotted.startswith(e.name + ".")):
            raise ModelLoadError(f"cannot import {dotted!r}: no module named {e.name!r}") from None
        raise ModelLoadError(_import_error(e, None)) from None
    except (Exception, SystemExit) as e:
        raise ModelLoadError(_import_error(e, None)) from None


_LIBRARIES = (str(Path(attrs.__file__).parent) + os.sep, sysconfig.get_paths()["stdlib"] + os.sep)


def _import_error(e: BaseException, path: Path | None) -> str:
    """`file:line: cannot load model: Error: message`, at the model's own line."""
    if isinstance(e, SyntaxError) and e.filename:
        where = f"{_show(Path(e.filename))}:{e.lineno}"
        return f"{where}: cannot load model: SyntaxError: {e.msg}"
    where = _user_frame(e.__traceback__) or (_show(path) if path else "?")
    message = " ".join(str(e).split())
    return f"{where}: cannot load model: {type(e).__name__}{': ' + message if message else ''}"


def _user_frame(tb: TracebackType | None) -> str | None:
    """The innermost frame of a traceback in the user's code (not importlib, attrs or panicfuzz)."""
    where = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not name.startswith("<") and _is_model_code(name) and not name.startswith(_LIBRARIES):
            where = f"{_show(Path(name))}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _show(path: Path) -> str:
    """A path as the user sees it: relative to cwd when under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- where models are found ------------------------------------------------------------


def shipped_entries() -> list[Entry]:
    entries = [shipped_entry(name) for name in protocols.modules()]
    entries = [e for e in entries if e.model is not None or e.error is not None]
    return sorted(entries, key=_seed_order)


def _seed_order(e: Entry) -> tuple:
    """Shipped models in the order of their LKML seed; those without one, then broken ones, last."""
    seed = getattr(e.model, "seed", None)
    return (e.model is None, seed is None, seed or 0, e.name)


@functools.cache
def shipped_entry(name: str) -> Entry:
    """The model of module protocols/<name>.py; neither model nor error: a helper module."""
    ref = f"{protocols.__name__}.{name}"
    try:
        module = _import_module(ref)
        cls = next((c for c in _models_in(module) if getattr(c, "name", None) == name), None)
        if cls is None:
            return Entry(name, ref, "shipped")
        return Entry(name, f"{ref}:{cls.__name__}", "shipped", model=validate(cls))
    except ModelLoadError as e:
        return Entry(name, ref, "shipped", error=str(e))


def _entry_point_entries() -> list[Entry]:
    out = []
    for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value)):
        origin = f"entry point {ep.dist.name if ep.dist else '?'}"
        out.append(_entry(ep.name, ep.value, origin, Path.cwd(), expect_name=True))
    return out


def _project_entries(p: Project) -> list[Entry]:
    return [_entry(None, ref, _show(p.path), p.root, expect_name=False) for ref in p.models]


def _entry(name: str | None, ref: str, origin: str, base: Path, *, expect_name: bool) -> Entry:
    guess = name or _split(ref)[1] or Path(_split(ref)[0]).stem.split(".")[-1]
    try:
        if not _is_path_or_module(ref) and not expect_name:
            raise ModelLoadError(f"{ref!r} is neither a file nor module:Class")
        cls = _load(ref, base)
    except ModelLoadError as e:
        return Entry(guess, ref, origin, error=f"{e} (in {origin})")
    if expect_name and cls.name != name:
        return Entry(guess, ref, origin, error=f"{origin}: entry point {name!r} = {ref} is a model named {cls.name!r}")
    return Entry(cls.name, ref, origin, model=cls)


# -- the contract -----------------------------------------------------------------------


@functools.cache
def validate(cls: type) -> type[Model]:
    """`cls` itself if it keeps the contract of `panicfuzz.model.Model`; else ModelLoadError.

    Checks what the engine relies on: name, ncpus, variants (each a Variant with its claim),
    events, cpu_main, the optional attributes' types, and that every variant builds a model.
    """
    if not (isinstance(cls, type) and issubclass(cls, Model)) or cls is Model:
        raise ModelLoadError(f"{cls!r} is not a panicfuzz.model.Model subclass")
    where = _where(cls)

    def bad(attribute: str, what: str) -> ModelLoadError:
        return ModelLoadError(f"{where}: {cls.__name__}.{attribute} {what}")

    for attribute, hint in (
        ("name", "the protocol name, e.g. name = \"nmi_lock\""),
        ("ncpus", "how many CPUs the machine has, e.g. ncpus = 2"),
        ("variants", "a tuple of panicfuzz.model.Variant, each with its claim"),
    ):
        if not hasattr(cls, attribute):
            raise bad(attribute, f"is missing ({hint})")
    if not isinstance(cls.name, str) or not _NAME.match(cls.name):
        raise bad("name", f"is {cls.name!r}: a protocol name is letters, digits and _ . + - (it names a corpus directory)")
    if not _is_int(cls.ncpus) or cls.ncpus < 1:
        raise bad("ncpus", f"is {cls.ncpus!r}, not a number of CPUs (an int >= 1)")
    _check_variants(cls, bad)
    _check_events(cls, bad)
    _check_stalls(cls, bad)
    if cls.cpu_main is Model.cpu_main:
        raise bad("cpu_main", "is missing (async def cpu_main(self, cpu): what CPU `cpu` runs)")
    if not inspect.iscoroutinefunction(cls.cpu_main):
        raise bad("cpu_main", "must be a coroutine function (async def)")
    if not _is_int(cls.max_steps) or cls.max_steps < 1:
        raise bad("max_steps", f"is {cls.max_steps!r}, not a step budget (an int >= 1)")
    if cls.goal is not None and not isinstance(cls.goal, str):
        raise bad("goal", f"is {cls.goal!r}, not a description (a str) or None")
    if not _is_int(cls.settle_after_goal) or cls.settle_after_goal < 0:
        raise bad("settle_after_goal", f"is {cls.settle_after_goal!r}, not a number of steps (an int >= 0)")
    if getattr(cls, "seed", None) is not None and not _is_int(cls.seed):
        raise bad("seed", f"is {cls.seed!r}, not an int")
    if not isinstance(getattr(cls, "source", ""), str):
        raise bad("source", f"is {cls.source!r}, not a str")
    for v in cls.variants:
        try:
            cls(v.name)
        except Exception as e:
            at = _user_frame(e.__traceback__) or where
            raise ModelLoadError(f"{at}: {cls.__name__}({v.name!r}) raised {type(e).__name__}: {' '.join(str(e).split())}") from None
    return cls


def _check_variants(cls: type[Model], bad) -> None:
    variants = cls.variants
    if not isinstance(variants, (tuple, list)) or not variants:
        raise bad("variants", f"is {variants!r}, not a non-empty tuple of panicfuzz.model.Variant")
    seen = set()
    for i, v in enumerate(variants):
        if not isinstance(v, Variant):
            raise bad(f"variants[{i}]", f"is {v!r}, not a panicfuzz.model.Variant(name, expected, summary) with its claim")
        if not isinstance(v.name, str) or not _NAME.match(v.name):
            raise bad(f"variants[{i}]", f"has name {v.name!r}: a variant name is letters, digits and _ . + -")
        if v.name in seen:
            raise bad(f"variants[{i}]", f"repeats the variant name {v.name!r}")
        seen.add(v.name)
        if v.expected not in OUTCOMES:
            raise bad(f"variants[{i}]", f"({v.name}) claims {v.expected!r}; a claim is one of {', '.join(OUTCOMES)}")
        if v.expected == "fails" and not v.must and v.kind not in FAILURE_KINDS:
            raise bad(f"variants[{i}]", f"({v.name}) fails with kind {v.kind!r}; a failure kind is one of {', '.join(FAILURE_KINDS)}")
        for field in ("must", "must_not"):
            names = getattr(v, field)
            if not isinstance(names, (tuple, list)):
                raise bad(f"variants[{i}].{field}", f"({v.name}) is {names!r}, not a tuple of failure names")
            for name in names:
                if why := bad_name(name):
                    raise bad(f"variants[{i}].{field}", f"({v.name}): {why}")
        if v.expected == "holds" and v.must_not:
            raise bad(f"variants[{i}].must_not", f"({v.name}) is given, but a variant claimed to hold may not fail at all")
        if v.kind is not None and v.must and any(n.split()[0] != v.kind for n in v.must):
            raise bad(f"variants[{i}].kind", f"({v.name}) is {v.kind!r}, but must names {', '.join(repr(n) for n in v.must if n.split()[0] != v.kind)}")


def _check_events(cls: type[Model], bad) -> None:
    events = cls.events
    if not isinstance(events, (tuple, list)):
        raise bad("events", f"is {events!r}, not a tuple of panicfuzz.model.Event")
    seen = set()
    for i, e in enumerate(events):
        if not isinstance(e, Event):
            raise bad(f"events[{i}]", f"is {e!r}, not a panicfuzz.model.Event")
        if not isinstance(e.name, str) or not e.name or e.name != e.name.strip() or "@" in e.name or e.name.startswith("cpu"):
            raise bad(f"events[{i}]", f"has name {e.name!r}: an event name is non-empty, has no '@' or outer spaces, and does not start with 'cpu'")
        if e.name in seen:
            raise bad(f"events[{i}]", f"repeats the event name {e.name!r}")
        seen.add(e.name)
        if not isinstance(e.kind, Kind):
            raise bad(f"events[{i}]", f"({e.name}) has kind {e.kind!r}, not a panicfuzz.machine.Kind")
        if (e.handler is not None and not callable(e.handler)) or (e.guard is not None and not callable(e.guard)):
            raise bad(f"events[{i}]", f"({e.name}) has a handler or guard that is not callable")
        if e.kind is Kind.NMI and getattr(cls, "nmi_entry", None) is None and cls.nmi_handler is Model.nmi_handler:
            raise bad("nmi_entry", f"is missing, and events[{i}] ({e.name}) is an NMI: every NMI runs the model's nmi_entry (e.g. nmi_entry = exc_nmi)")
        if not _is_int(e.limit) or e.limit < 1:
            raise bad(f"events[{i}]", f"({e.name}) has limit {e.limit!r}, not an int >= 1")


def _check_stalls(cls: type[Model], bad) -> None:
    stalls = cls.stalls
    if not isinstance(stalls, (tuple, list)) or not all(isinstance(st, Stall) for st in stalls):
        raise bad("stalls", f"is {stalls!r}, not a tuple of panicfuzz.model.Stall")
    names = {e.name for e in cls.events}
    for i, st in enumerate(stalls):
        if st.name in names:
            raise bad(f"stalls[{i}]", f"repeats the name {st.name!r} (of an event or another stall)")
        names.add(st.name)
        if not _is_int(st.limit) or st.limit < 1:
            raise bad(f"stalls[{i}]", f"({st.name}) has limit {st.limit!r}, not an int >= 1")
        if st.cpus is not None and not all(_is_int(c) and 0 <= c < cls.ncpus for c in st.cpus):
            raise bad(f"stalls[{i}]", f"({st.name}) has cpus {st.cpus!r}, not CPU numbers below ncpus ({cls.ncpus})")
        if st.guard is not None and not callable(st.guard):
            raise bad(f"stalls[{i}]", f"({st.name}) has a guard that is not callable")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _where(cls: type) -> str:
    path = _loaded_from.get(cls)
    try:
        path = path or Path(inspect.getfile(cls))
        return f"{_show(path)}:{inspect.getsourcelines(cls)[1]}"
    except (OSError, TypeError):
        return _show(path) if path else cls.__module__


# -- what a corpus case records -----------------------------------------------------------


def reference(model_cls: type[Model]) -> dict[str, str]:
    """How a corpus case records its model: {"name", "ref"}.

    `ref` is a module reference when the class is importable by its module, else its file
    (relative to the project root, or the cwd, when under it) and class.
    """
    model_cls = scenarios.base(model_cls)  # a class bound to a scenario records its model
    path = _loaded_from.get(model_cls)
    module = model_cls.__module__
    if path is None and module != "__main__" and not module.startswith("_panicfuzz_model_"):
        return {"name": model_cls.name, "ref": f"{module}:{model_cls.__qualname__}"}
    path = path or Path(inspect.getfile(model_cls)).resolve()
    p = project(path.parent)
    for base in ([p.root] if p else []) + [Path.cwd()]:
        if path.is_relative_to(base.resolve()):
            return {"name": model_cls.name, "ref": f"{path.relative_to(base.resolve())}:{model_cls.__qualname__}"}
    return {"name": model_cls.name, "ref": f"{path}:{model_cls.__qualname__}"}


def case_model(data: dict, path: Path, start: Path | None = None) -> type[Model]:
    """The model of a loaded corpus case, found from `start` (default: cwd), else from the case
    file's own directory (its project): by the recorded name, else by the recorded reference.

    Cases saved before models were recorded name only their protocol.
    """
    protocol = data["protocol"]
    record = data.get("model")
    hint = "run panicfuzz from the project that defines it, or pass --model REF"
    if record is not None and not (
        isinstance(record, dict) and isinstance(record.get("name"), str) and isinstance(record.get("ref"), str)
    ):
        raise ModelLoadError(f"{path}: field 'model' must be {{\"name\": ..., \"ref\": ...}}, not {record!r}")
    name = protocol if record is None else record["name"]
    errors = []
    for here in dict.fromkeys([Path(start) if start is not None else Path.cwd(), Path(path).resolve().parent]):
        try:
            cls = _by_name(name, here)
        except UnknownModel as e:
            errors.append(str(e))
            if record is None:
                continue
            p = project(here)
            try:
                cls = _load(record["ref"], p.root if p else here)
            except ModelLoadError as e:
                errors.append(str(e))
                continue
        if cls.name != protocol:
            raise ModelLoadError(f"{path}: field 'protocol' is {protocol!r} but its model {record and record['ref']} is named {cls.name!r}")
        return cls
    if record is None:
        raise UnknownModel(f"{path}: field 'protocol': {errors[-1]}; {hint}")
    raise UnknownModel(f"{path}: field 'model': model {name!r} ({record['ref']}) is not found from here ({errors[-1]}); {hint}")
