"""panicfuzz engine: a deterministic trio machine for panic-path protocols.

The public API for a user's own tests, imported on first use (so `import panicfuzz`, and the
pytest plugin, cost nothing until a test asks for it):

- `schedules(model, variant)`: a Hypothesis strategy of `Schedule`s for `@given`, whose
  `check()` fails with the shrunk timeline and the replay command (`panicfuzz.hypothesis_api`);
- `corpus_examples(model, variant, corpus)`: the saved cases as explicit `@example`s;
- `schedule_machine(model, variant)`: the protocol as a Hypothesis stateful test (`panicfuzz.stateful`).
"""

__version__ = "0.1.0"

_LAZY = {
    "ProtocolFailure": "hypothesis_api",
    "Schedule": "hypothesis_api",
    "cases": "hypothesis_api",
    "corpus_examples": "hypothesis_api",
    "schedules": "hypothesis_api",
    "schedule_machine": "stateful",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["ProtocolFailure", "Schedule", "__version__", "cases", "corpus_examples", "schedule_machine", "schedules"]
