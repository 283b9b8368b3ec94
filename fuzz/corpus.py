"""Saved findings: JSON data with a schema version, validated as a whole, written atomically.

Layout: corpus/<protocol>/<variant>/<signature>.json. The same bug found
twice is one file: a new finding replaces the saved one only when its
reproducer is smaller (design §2 order).

Every read goes through `load()`: a regular file of at most `MAX_BYTES`,
JSON without NaN/Infinity, checked against `FIELDS` (every nested field,
its type and range, the trace's actions and the sizes it implies). A case
that fails names the file, the field's path (`failure.switches`,
`trace[3]`) and the value in one line (`CorpusError`, exit code 2), so
nothing downstream ever meets a field it did not expect. `check_model()`
adds what only the model can say: its CPUs, its events, its `config`.

`write_atomic()` writes a temporary file beside the target, fsyncs it,
renames it over the target and fsyncs the directory: a reader or an
interrupted run sees the old file or the new one, never half of one. A new
file gets the mode the umask gives; a replaced file keeps its mode. A
temporary file left by a killed writer is removed by the next write into its
directory.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Callable

from . import __version__, loader
from .machine import HarnessBug
from .trace import Action, Inject, Size, StallFor, measure, parse_action

SCHEMA = 1
MAX_BYTES = 8 << 20  # the largest shipped case is 12 KB
MAX_COUNT = 2**53  # integers beyond this are not counts of anything a run did
MAX_SEED = 2**64 - 1  # a dice seed (panicfuzz.strategies.hypothesis.SEEDS) is not a count
FAILURE_KINDS = ("deadlock", "livelock", "hang", "invariant", "model-error")
SIGNATURE = re.compile(r"(%s)-[0-9a-f]{12}" % "|".join(FAILURE_KINDS))


class CorpusError(Exception):
    """A corpus file that cannot be used: names the file, the field and the value."""


class _Invalid(Exception):
    def __init__(self, field: str, problem: str):
        super().__init__(f"field '{field}' {problem}")


def show(value: Any, limit: int = 40) -> str:
    """A value as it appears in a message: JSON, cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the schema: one checker per field, (value, field path) -> None ------------------

Check = Callable[[Any, str], None]


def _bad(value: Any, field: str, expected: str) -> _Invalid:
    return _Invalid(field, f"is {show(value)}, expected {expected}")


def integer(lo: int = 0, hi: int = MAX_COUNT) -> Check:
    def check(v: Any, field: str) -> None:
        if type(v) is not int or not lo <= v <= hi:  # bool is not an integer here
            raise _bad(v, field, f"an integer from {lo} to {hi}")

    return check


def number(v: Any, field: str) -> None:
    if type(v) not in (int, float) or not math.isfinite(v) or not 0 <= v <= MAX_COUNT:
        raise _bad(v, field, "a number >= 0")


def text(pattern: str | None = None, max_len: int = 1 << 20) -> Check:
    rx = re.compile(pattern) if pattern else None

    def check(v: Any, field: str) -> None:
        if type(v) is not str or len(v) > max_len or (rx is not None and not rx.fullmatch(v)):
            raise _bad(v, field, "a string" if rx is None else f"a string matching {pattern}")

    return check


def boolean(v: Any, field: str) -> None:
    if type(v) is not bool:
        raise _bad(v, field, "true or false")


def nullable(inner: Check) -> Check:
    def check(v: Any, field: str) -> None:
        if v is not None:
            inner(v, field)

    return check


def listof(item: Check) -> Check:
    def check(v: Any, field: str) -> None:
        if type(v) is not list:
            raise _bad(v, field, "a list")
        for i, x in enumerate(v):
            item(x, f"{field}[{i}]")

    return check


def obj(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """An object with these fields; fields it does not name are allowed (later versions add some)."""
    optional = optional or {}

    def check(v: Any, field: str) -> None:
        if type(v) is not dict:
            raise _bad(v, field, "an object")
        prefix = f"{field}." if field else ""
        for name, inner in required.items():
            if name not in v:
                raise _Invalid(prefix + name, "is missing")
            inner(v[name], prefix + name)
        for name, inner in optional.items():
            if name in v:
                inner(v[name], prefix + name)

    return check


def mapping(value: Check) -> Check:
    """An object of any field names, each value checked."""

    def check(v: Any, field: str) -> None:
        if type(v) is not dict:
            raise _bad(v, field, "an object")
        for name, x in v.items():
            value(x, f"{field}.{name}")

    return check


def scalar(v: Any, field: str) -> None:
    if type(v) not in (str, int, bool):
        raise _bad(v, field, "a string, an integer or true/false")


def action(v: Any, field: str) -> None:
    if type(v) is not str:
        raise _bad(v, field, "an action string")
    try:
        parse_action(v)
    except ValueError:
        raise _Invalid(field, f"is {show(v)}, not an action (cpuN, EVENT or EVENT@cpuN)") from None


def schema_version(v: Any, field: str) -> None:
    if type(v) is not int or v != SCHEMA:
        raise _Invalid(field, f"is {show(v)}; this panicfuzz reads schema {SCHEMA}")


COUNT = integer()
NAME = text(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")
SIZE = obj({"preemptions": COUNT, "injected_events": COUNT, "switches": COUNT, "steps": COUNT})
FIELDS = obj(
    {
        "schema": schema_version,
        "protocol": NAME,
        "variant": NAME,
        "config": obj({"ncpus": integer(1, 4096), "max_steps": integer(1)}),
        "trace": listof(action),
        "kinds": text(r"[dpsif]*"),
        "failure": obj(
            {
                "kind": text("|".join(FAILURE_KINDS)),
                "message": text(),
                "signature": text(SIGNATURE.pattern),
                "preemptions": COUNT,
                "injected_events": COUNT,
                "switches": COUNT,
                "steps": COUNT,
            }
        ),
        "event_log_sha256": text(r"[0-9a-f]{64}"),
    },
    {
        "tool_version": text(max_len=100),
        "timeline": listof(text()),
        "found": obj({}, {"strategy": text(max_len=100), "seed": integer(-MAX_COUNT, MAX_SEED), "schedules": COUNT, "seconds": number}),
        "shrink": obj(
            {},
            {
                "before": SIZE,
                "after": SIZE,
                "seconds": number,
                "minimal": nullable(boolean),
                "history": listof(obj({}, {"command": text(), "before": SIZE, "after": SIZE, "seconds": number})),
                "passes": obj({}),
            },
        ),
        # how the model was found (panicfuzz.loader) and its parameters (scenarios)
        "model": obj({"name": text(max_len=1000), "ref": text(max_len=1000)}),
        "scenario": mapping(scalar),
    },
)


def validate(data: Any) -> None:
    """Check a whole case against `FIELDS` and the sizes its trace implies; raises `_Invalid`."""
    FIELDS(data, "")
    trace, kinds, failure = data["trace"], data["kinds"], data["failure"]
    if len(kinds) != len(trace):
        raise _Invalid("kinds", f"has {len(kinds)} letters for {len(trace)} trace actions")
    if not failure["signature"].startswith(failure["kind"] + "-"):
        raise _Invalid("failure.signature", f"is {show(failure['signature'])}, not a {failure['kind']} signature")
    implied = measure([parse_action(a) for a in trace], kinds).as_dict()
    for name, value in implied.items():
        if failure[name] != value:
            raise _Invalid(f"failure.{name}", f"is {show(failure[name])}, but trace and kinds have {value}")


# -- reading -----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (never blocks on a FIFO or device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read: {e.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise CorpusError(f"{path}: not a regular file ({what})")
    with os.fdopen(fd, "rb") as f:
        try:
            blob = f.read(limit + 1)
        except OSError as e:
            raise CorpusError(f"{path}: cannot read: {e.strerror}") from None
    if len(blob) > limit:
        raise CorpusError(f"{path}: larger than {limit >> 20} MiB; not a corpus case")
    return blob


def load(path: Path) -> dict[str, Any]:
    """Read and validate one case (see the module docstring); raises `CorpusError`."""
    blob = read_bytes(Path(path))
    try:
        data = json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not JSON: {e.msg} at line {e.lineno}") from None
    except ValueError as e:  # NaN/Infinity, or an integer of thousands of digits
        raise CorpusError(f"{path}: not JSON: {str(e).splitlines()[0][:80]}") from None
    except RecursionError:
        raise CorpusError(f"{path}: not JSON: nested too deeply") from None
    if type(data) is not dict:
        raise CorpusError(f"{path}: expected a JSON object, found {show(data, 20)}")
    try:
        validate(data)
    except _Invalid as e:
        raise CorpusError(f"{path}: {e}") from None
    except RecursionError:
        raise CorpusError(f"{path}: nested too deeply") from None
    stem = Path(path).name.removesuffix(".json")
    if SIGNATURE.fullmatch(stem) and stem != data["failure"]["signature"]:
        raise CorpusError(f"{path}: field 'failure.signature' is {show(data['failure']['signature'])}, but the file is named for {stem}")
    return data


def trace_of(path: Path, data: dict[str, Any]) -> list[Action]:
    """The actions of a loaded (so validated) case."""
    return [parse_action(a) for a in data["trace"]]


def check_model(path: Path, data: dict[str, Any], model_cls) -> None:
    """What only the model can check: its config, and the CPUs and events the trace names."""
    variants = [v.name for v in model_cls.variants]
    if data["variant"] not in variants:
        raise CorpusError(f"{path}: field 'variant' is {show(data['variant'])}: {model_cls.name} has no such variant (known: {', '.join(variants)})")
    for name, have in (("ncpus", model_cls.ncpus), ("max_steps", model_cls.max_steps)):
        saved = data["config"][name]
        if saved != have:
            raise CorpusError(
                f"{path}: field 'config.{name}' is {saved}, but {model_cls.name} has {name} {have} "
                "(the case was recorded under another configuration)"
            )
    events = {e.name for e in model_cls.events}
    stalls = {st.name for st in model_cls.stalls}
    for i, a in enumerate(trace_of(path, data)):
        cpu = a.cpu
        if isinstance(a, StallFor) and a.event not in stalls:
            raise CorpusError(f"{path}: field 'trace[{i}]' is {show(str(a))}: {model_cls.name} has no stall {show(a.event)}")
        if isinstance(a, Inject) and not isinstance(a, StallFor) and a.event not in events:
            raise CorpusError(f"{path}: field 'trace[{i}]' is {show(str(a))}: {model_cls.name} has no event {show(a.event)}")
        if cpu is not None and cpu >= model_cls.ncpus:
            raise CorpusError(f"{path}: field 'trace[{i}]' is {show(str(a))}: {model_cls.name} has {model_cls.ncpus} CPUs")


def check_replay(path: Path, data: dict[str, Any], result) -> None:
    """After a strict replay: the run used the whole trace (a longer one has actions no run takes)."""
    n = len(result.trace)
    if len(data["trace"]) > n:
        raise CorpusError(f"{path}: field 'trace[{n}]' onward is never used: the run ends after {n} of {len(data['trace'])} actions")


# -- writing -----------------------------------------------------------------------


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
        "model": loader.reference(model_cls),  # how to find the model again (loader.case_model)
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


def path_for(root: Path, protocol: str, variant: str, signature: str) -> Path:
    return root / protocol / variant / f"{signature}.json"


_TMP = re.compile(r"\..+\.(\d+)\.[0-9a-f]{8}\.tmp")


def write_atomic(path: Path, data: dict[str, Any], indent: int | None = 1) -> None:
    """Write JSON so that a reader (or an interrupted run) never sees half a file
    (`indent=None`: one line, by the C encoder, for a file rewritten often)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path.parent)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # a replaced file keeps its mode
    except FileNotFoundError:
        mode = None
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)  # the umask applies
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if mode is not None:
                os.fchmod(fd, mode)
            f.write(json.dumps(data, indent=indent, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(directory: Path) -> None:
    """Temporary files of writers that no longer run (killed inside a save)."""
    for entry in os.scandir(directory):
        m = _TMP.fullmatch(entry.name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        Path(entry.path).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def check_root(root: Path) -> None:
    """Fail now, not after a search, when findings could not be saved under `root`."""
    p = Path(root)
    while True:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            if p.parent == p:
                raise CorpusError(f"{root}: corpus directory cannot be created") from None
            p = p.parent
            continue
        except OSError as e:
            raise CorpusError(f"{root}: unusable corpus directory: {e.strerror}") from None
        break
    if not stat.S_ISDIR(st.st_mode):
        raise CorpusError(f"{root}: unusable corpus directory: {p} is not a directory")
    if not os.access(p, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_fs(p) else "permission denied"
        raise CorpusError(f"{root}: unusable corpus directory: {p}: {why}")


def _read_only_fs(p: Path) -> bool:
    return bool(os.statvfs(p).f_flag & os.ST_RDONLY)


def save(root: Path, data: dict[str, Any]) -> tuple[Path, bool]:
    """Save a finding; returns (path, whether the file was written)."""
    try:
        validate(data)
    except _Invalid as e:
        raise HarnessBug(f"a new corpus record breaks the schema: {e}") from None
    path = path_for(root, data["protocol"], data["variant"], data["failure"]["signature"])
    if path.exists():
        try:
            old = load(path)
        except CorpusError:
            old = None  # an unreadable case of the same signature: the new finding replaces it
        if old is not None and _size_key(old) <= _size_key(data):
            return path, False
    write_atomic(path, data)
    return path, True


def _size_key(data: dict[str, Any]) -> Size:
    f = data["failure"]
    stalled = sum(a.ns for a in map(parse_action, data["trace"]) if isinstance(a, StallFor))
    return Size(f["preemptions"], f["injected_events"], f["switches"], f["steps"], tuple(data["trace"]), stalled=stalled)


def files(root: Path, protocol: str | None = None) -> list[Path]:
    base = root / protocol if protocol else root
    return sorted(base.rglob("*.json")) if base.exists() else []
