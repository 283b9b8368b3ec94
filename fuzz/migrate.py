"""Re-sign a corpus after an engine or model change (`panicfuzz corpus migrate`).

Each case is replayed on its variant. A case that still fails with the kind
it recorded is re-recorded: signature, file name, message, event-log digest,
timeline and size are recomputed from the replay, the trace is kept. A case
that no longer fails that way is reported and left as it is, never rewritten:
it is evidence that something changed, for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from . import corpus
from .model import Model
from .run import execute
from .strategies import Replay
from .timeline import timeline_of


@attrs.frozen
class Migrated:
    path: Path  # the case as it was
    new_path: Path | None  # where it is now (None: it no longer reproduces, left alone)
    old_signature: str
    new_signature: str | None
    changed: bool  # the file was rewritten (or moved)
    reason: str = ""  # why a case was left alone


def migrate(path: Path, data: dict, model_cls: type[Model], *, dry_run: bool = False) -> Migrated:
    """Replay one case and re-record it (see the module docstring)."""
    trace = corpus.trace_of(path, data)
    old = data["failure"]
    result = execute(model_cls, data["variant"], Replay(trace), logging=True)
    if result.outcome.kind != old["kind"]:
        got = result.outcome.kind or "no failure"
        why = f"replays as {got}" + (f": {result.outcome.message.splitlines()[0]}" if result.outcome.message else "")
        return Migrated(path, None, old["signature"], result.signature, False, why)
    size = result.size.as_dict()
    new = dict(data)
    new["trace"] = [str(a) for a in result.trace]  # the same actions (a strict replay)
    new["kinds"] = result.kinds
    new["failure"] = {"kind": result.outcome.kind, "message": result.outcome.message, "signature": result.signature, **size}
    new["event_log_sha256"] = result.log_digest()
    new["timeline"] = timeline_of(model_cls, data["variant"], result).splitlines()
    shrink = dict(data.get("shrink") or {})
    if shrink.get("after") != size:
        shrink["after"] = size
        shrink["minimal"] = None  # proven for the old size; re-check with `panicfuzz shrink`
    new["shrink"] = shrink
    target = path.with_name(f"{result.signature}.json")
    changed = new != data or target != path
    if changed and not dry_run:
        if target == path or not target.exists():
            corpus.write_atomic(target, new)
        elif _size(new) < _size(corpus.load(target)):  # two cases are now one bug: keep the smaller
            corpus.write_atomic(target, new)
        if target != path:
            path.unlink()
    return Migrated(path, target, old["signature"], result.signature, changed)


def _size(data: dict) -> tuple:
    f = data["failure"]
    return (f["preemptions"], f["injected_events"], f["switches"], f["steps"], data["trace"])


__all__ = ["Migrated", "migrate"]
