"""Scenarios: the configuration a model runs in, drawn by Hypothesis, recorded, replayed and shrunk.

A model declares its parameters (`panicfuzz.model.Parameter`): each names a
class attribute that holds its default (`crash_kexec_post_notifiers = False`,
`ncpus = 2`, as the kernel's own globals) and a Hypothesis strategy of the
values it may take. A scenario is a dict {name: value} of JSON scalars;
`bind(model, scenario)` is the model class with those values (a cached
subclass, so every function that takes a model class runs a scenario
unchanged), and `scenario_of(model)` reads them back. A run is then a pure
function of (model, variant, scenario, decisions).

Searches draw a scenario with each schedule (`strategy`); a failure's
scenario is minimised before its trace (`simplest`): every parameter back to
its default where the same failure still happens, and a number (the number
of CPUs) as close to its default as it can be. The corpus records the
scenario of each case, and replay binds it (`from_record`).
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Mapping

import attrs
from hypothesis import strategies as st

from .model import Model, Parameter
from .run import RunResult, execute
from .strategies.replay import Replay

Scenario = dict[str, Any]
SCALARS = (bool, int, str)


class ScenarioError(ValueError):
    """A scenario naming a parameter the model lacks, or a value of the wrong type."""


def parameters(model_cls: type[Model]) -> tuple[Parameter, ...]:
    return tuple(getattr(model_cls, "parameters", ()))


def base(model_cls: type[Model]) -> type[Model]:
    """The model class a bound class was made from (itself when not bound)."""
    return getattr(model_cls, "_scenario_base", None) or model_cls


def defaults(model_cls: type[Model]) -> Scenario:
    root = base(model_cls)
    return {p.name: getattr(root, p.name) for p in parameters(root)}


def scenario_of(model_cls: type[Model]) -> Scenario:
    """The full scenario a model class runs (its defaults when it is not bound)."""
    return {p.name: getattr(model_cls, p.name) for p in parameters(model_cls)}


def is_bound(model_cls: type[Model]) -> bool:
    return base(model_cls) is not model_cls


def validate(model_cls: type[Model], scenario: Mapping[str, Any]) -> Scenario:
    """The full scenario (defaults filled in); ScenarioError names the bad parameter."""
    out = defaults(model_cls)
    for name, value in scenario.items():
        if name not in out:
            known = ", ".join(out) or "none"
            raise ScenarioError(f"{base(model_cls).name} has no parameter {name!r} (parameters: {known})")
        want = type(out[name])
        if type(value) is not want:  # bool is not an int here, and neither is a float
            raise ScenarioError(f"parameter {name!r} is {value!r}; {base(model_cls).name} takes a {want.__name__}")
        out[name] = value
    return out


def bind(model_cls: type[Model], scenario: Mapping[str, Any] | None) -> type[Model]:
    """The model class running `scenario` (missing parameters at their defaults)."""
    root = base(model_cls)
    full = validate(root, scenario or {})
    if full == defaults(root):
        return root
    return _bound(root, tuple(sorted(full.items())))


@functools.cache
def _bound(root: type[Model], items: tuple[tuple[str, Any], ...]) -> type[Model]:
    attrs = {"_scenario_base": root, "__module__": root.__module__, "__qualname__": root.__qualname__, **dict(items)}
    return type(root.__name__, (root,), attrs)


def strategy(model_cls: type[Model]) -> st.SearchStrategy[Scenario] | None:
    """Scenarios of an unbound model with parameters (None otherwise): each parameter at its
    default or drawn from its strategy, so Hypothesis shrinks toward the defaults too."""
    if is_bound(model_cls) or not parameters(model_cls):
        return None
    root = base(model_cls)
    return st.fixed_dictionaries({p.name: st.just(getattr(root, p.name)) | p.strategy for p in parameters(root)})


def changed(model_cls: type[Model]) -> Scenario:
    """The parameters of a bound class that differ from their defaults."""
    d = defaults(model_cls)
    return {k: v for k, v in scenario_of(model_cls).items() if d[k] != v}


def describe(model_cls: type[Model]) -> str:
    """`crash_kexec_post_notifiers=True, ncpus=3`, or '' at the defaults."""
    return ", ".join(f"{k}={v}" for k, v in changed(model_cls).items())


def declared(model_cls: type[Model]) -> list[dict[str, Any]]:
    """The parameters as `list` shows them: name, default, the values a search draws, doc."""
    root = base(model_cls)
    return [{"name": p.name, "default": getattr(root, p.name), "values": repr(p.strategy), "doc": p.doc} for p in parameters(root)]


def from_record(model_cls: type[Model], data: Mapping[str, Any], where: str) -> type[Model]:
    """The model bound to a corpus record's `scenario` (absent: the defaults); ScenarioError names `where`."""
    scenario = data.get("scenario") or {}
    if not isinstance(scenario, dict) or not all(type(v) in SCALARS for v in scenario.values()):
        raise ScenarioError(f"{where}: field 'scenario' must be an object of parameter values")
    try:
        return bind(model_cls, scenario)
    except ScenarioError as e:
        raise ScenarioError(f"{where}: field 'scenario': {e}") from None


def _candidates(model_cls: type[Model], found: RunResult) -> Iterator[tuple[Scenario, list, str]]:
    """Simpler scenarios, one parameter at a time, each with the schedule to try in it: an option
    back to its default, or a number one step closer; `ncpus` only ever goes down, one CPU fewer
    tried as each CPU dropped from the schedule (the ones above it renumbered down)."""
    current, d = scenario_of(model_cls), defaults(model_cls)
    trace, kinds = list(found.trace), found.kinds
    for name, value in changed(model_cls).items():
        if name == "ncpus":
            for cpu in reversed(range(value)) if value > d[name] else ():
                yield {**current, name: value - 1}, *_without_cpu(trace, kinds, cpu)
            continue
        yield {**current, name: d[name]}, trace, kinds
        if type(value) is int and abs(value - d[name]) > 1:
            yield {**current, name: value + (1 if value < d[name] else -1)}, trace, kinds


def _without_cpu(trace: list, kinds: str, cpu: int) -> tuple[list, str]:
    out, out_kinds = [], []
    for action, kind in zip(trace, kinds):
        if action.cpu != cpu:
            out.append(action if action.cpu is None or action.cpu < cpu else attrs.evolve(action, cpu=action.cpu - 1))
            out_kinds.append(kind)
    return out, "".join(out_kinds)


def simplest(model_cls: type[Model], variant: str, found: RunResult) -> tuple[type[Model], RunResult]:
    """The simplest scenario in which `found`'s schedule still fails with the same kind of failure.

    Each candidate replays its schedule leniently (what the smaller machine
    does not offer is taken as the nearest deviation, `Replay(strict=False)`);
    the first that fails the same way is taken, until none does. The kind,
    not the signature: a deadlock's signature names every CPU in its
    wait-for shape, so the same bug on fewer CPUs has another one.
    """
    kind = found.outcome.kind
    progress = True
    while progress:
        progress = False
        for scenario, trace, kinds in _candidates(model_cls, found):
            cand = bind(model_cls, scenario)
            result = execute(cand, variant, Replay(trace, kinds, strict=False))
            if result.outcome.kind == kind:
                model_cls, found, progress = cand, result, True
                break
    return model_cls, found


__all__ = ["Parameter", "ScenarioError", "bind", "changed", "defaults", "describe", "from_record", "scenario_of", "simplest", "strategy"]
