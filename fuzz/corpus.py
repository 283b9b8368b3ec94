"""Saved findings: JSON data with a schema version, written atomically.

Layout: corpus/<protocol>/<variant>/<signature>.json. The same bug found
twice is one file: a new finding replaces the saved one only when its
reproducer is smaller (design §2 order).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import __version__
from .trace import Action, Size, parse_action

SCHEMA = 1
REQUIRED = ("schema", "protocol", "variant", "trace", "kinds", "failure")


class CorpusError(Exception):
    """A corpus file that cannot be used: names the file, the field and the value."""


def path_for(root: Path, protocol: str, variant: str, signature: str) -> Path:
    return root / protocol / variant / f"{signature}.json"


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that a reader (or an interrupted run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object, found {type(data).__name__}")
    for field in REQUIRED:
        if field not in data:
            raise CorpusError(f"{path}: missing field '{field}'")
    if data["schema"] != SCHEMA:
        raise CorpusError(f"{path}: field 'schema' is {data['schema']!r}; this panicfuzz reads schema {SCHEMA}")
    if not isinstance(data["trace"], list) or not all(isinstance(a, str) for a in data["trace"]):
        raise CorpusError(f"{path}: field 'trace' must be a list of action strings")
    if not isinstance(data["kinds"], str) or len(data["kinds"]) != len(data["trace"]) or set(data["kinds"]) - set("dpsif"):
        raise CorpusError(f"{path}: field 'kinds' must be one letter of d/p/s/i/f per trace action")
    return data


def trace_of(path: Path, data: dict[str, Any]) -> list[Action]:
    out = []
    for i, text in enumerate(data["trace"]):
        try:
            out.append(parse_action(text))
        except ValueError:
            raise CorpusError(f"{path}: field 'trace'[{i}] is {text!r}, not an action") from None
    return out


def record(finding, model_cls, timeline: str) -> dict[str, Any]:
    """The JSON object for one finding (see `panicfuzz.search.Finding`)."""
    from .scenarios import bind

    r = finding.result
    size = r.size.as_dict()
    bound = bind(model_cls, finding.scenario)
    scenario = {"scenario": finding.scenario} if finding.scenario else {}  # absent: the model has no parameters
    return {
        "schema": SCHEMA,
        "tool_version": __version__,
        "protocol": finding.protocol,
        "variant": finding.variant,
        "config": {"ncpus": bound.ncpus, "max_steps": bound.max_steps},
        **scenario,
        "trace": [str(a) for a in r.trace],
        "kinds": r.kinds,
        "failure": {
            "kind": r.outcome.kind,
            "message": r.outcome.message,
            "signature": finding.signature,
            **size,
        },
        "event_log_sha256": r.log_digest(),
        "timeline": timeline.splitlines(),
        "found": {
            "strategy": finding.strategy,
            "seed": finding.seed,
            "schedules": finding.schedules,
            "seconds": finding.seconds,
        },
        "shrink": {
            "before": finding.first.as_dict(),
            "after": size,
            "seconds": finding.shrink_seconds,
            # True: no schedule with fewer (preemptions, injected events) fails the
            # same way (exhaustive check); null: not proven within its budget
            "minimal": getattr(finding.shrink_report, "minimal", None),
        },
    }


def save(root: Path, data: dict[str, Any]) -> tuple[Path, bool]:
    """Save a finding; returns (path, whether the file was written)."""
    path = path_for(root, data["protocol"], data["variant"], data["failure"]["signature"])
    if path.exists():
        try:
            old = load(path)
        except CorpusError:
            old = None
        if old is not None and _size_key(old) <= _size_key(data):
            return path, False
    write_atomic(path, data)
    return path, True


def _size_key(data: dict[str, Any]) -> Size:
    f = data["failure"]
    return Size(f["preemptions"], f["injected_events"], f["switches"], f["steps"], tuple(data["trace"]))


def files(root: Path, protocol: str | None = None) -> list[Path]:
    base = root / protocol if protocol else root
    return sorted(base.rglob("*.json")) if base.exists() else []
