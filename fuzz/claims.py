"""What a variant claims, and whether what was found is as claimed.

A failure answers to a few *names*, derived from its signature parts (see
`panicfuzz.oracles`): its kind (`deadlock`), and what it is:

    invariant KEY                    the invariant that failed (Violation key)
    deadlock in FUNC()               a stuck CPU waits in kernel function FUNC
    deadlock on CELL in FUNC()       ... spinning there on lock or cell CELL
    livelock in FUNC()               the cycle runs through FUNC
    hang in FUNC()                   an unproven hang, still running in FUNC

A variant claims `holds` (nothing fails), or `fails` in one of two forms:

- plain, `kind="deadlock"`: some failure of that kind must be found; failures
  of other kinds are tolerated (the original form, still valid for user models);
- sharp, `must=("deadlock on hpet.lock in read_hpet()",)`: some failure
  answering to one of these names must be found, and every failure found must
  answer to one of them; anything else is "not as claimed", named.

Either form may add `must_not=(...)`: names no failure may answer to.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import attrs

FAILURE_KINDS = ("deadlock", "livelock", "hang", "invariant", "model-error")

_NAME = re.compile(
    r"(?:deadlock|livelock|hang|invariant|model-error)"
    r"|invariant \S+"
    r"|deadlock (?:on \S+ )?in [A-Za-z_][A-Za-z0-9_.]*\(\)"
    r"|(?:livelock|hang) in [A-Za-z_][A-Za-z0-9_.]*\(\)"
)


def bad_name(name: Any) -> str | None:
    """Why `name` is not a failure name a claim can use, or None."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return (
            f"{name!r} is not a failure name (a kind, 'invariant KEY', 'deadlock [on CELL] in FUNC()', "
            "'livelock in FUNC()' or 'hang in FUNC()')"
        )
    return None


def names(kind: str, parts: Sequence[Any]) -> tuple[str, ...]:
    """The names a failure of `kind` with signature `parts` answers to, its kind first."""
    out = [kind]
    if kind == "invariant" and len(parts) >= 2:
        out.append(f"invariant {parts[1]}")
    elif kind == "deadlock":
        for entry in parts:
            func = entry.get("in")
            if func:
                out.append(f"deadlock in {func}()")
                out += [f"deadlock on {cell} in {func}()" for cell, _ in entry.get("on", ())]
    elif kind in ("livelock", "hang") and len(parts) >= 2:
        out += [f"{kind} in {where}" for where in parts[1] if where.endswith("()")]
    return tuple(dict.fromkeys(out))


def answers(outcome: Any) -> tuple[str, ...]:
    """The names a run's failure (`panicfuzz.machine.Outcome`) answers to."""
    return names(outcome.kind, outcome.signature_parts)


@attrs.frozen
class Claim:
    """A variant's claim, as the engine compares it (and the campaign state saves it)."""

    expected: str  # "holds" | "fails"
    kind: str | None = None  # the plain form
    must: tuple[str, ...] = ()  # the sharp form
    must_not: tuple[str, ...] = ()

    @classmethod
    def of(cls, variant: Any) -> Claim:
        return cls(variant.expected, variant.kind, tuple(variant.must), tuple(variant.must_not))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        return cls(d["expected"], d.get("kind"), tuple(d.get("must", ())), tuple(d.get("must_not", ())))

    def as_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "kind": self.kind, "must": list(self.must), "must_not": list(self.must_not)}

    def text(self) -> str:
        """In words: "holds", "fails (deadlock)", "fails (invariant x | deadlock in f()); never hang"."""
        if self.expected == "holds":
            what = "holds"
        else:
            what = f"fails ({' | '.join(self.must) if self.must else self.kind})"
        return what + (f"; never {' | '.join(self.must_not)}" if self.must_not else "")

    def kinds(self) -> str:
        """Short, for a table row: "holds", "fails (deadlock)", "fails (invariant, livelock)"."""
        if self.expected == "holds":
            return "holds"
        return f"fails ({', '.join(dict.fromkeys(n.split()[0] for n in self.must)) if self.must else self.kind})"

    def judge(self, found: Iterable[tuple[str, Sequence[str]]]) -> Judgement:
        """`found`: (signature, names) of every failure seen (a signature may repeat)."""
        found = dict(found)
        if self.expected == "holds":
            return Judgement(not found, sorted(found))
        claimed = self.must or (self.kind,)
        hit = sorted(s for s, n in found.items() if set(n) & set(claimed))
        other = sorted(
            s for s, n in found.items() if set(n) & set(self.must_not) or (self.must and not set(n) & set(claimed))
        )
        return Judgement(bool(hit) and not other, other, missing=not hit)


@attrs.frozen
class Judgement:
    """Whether the failures seen are as claimed; `unclaimed`: the signatures that make them not."""

    ok: bool
    unclaimed: list[str]
    missing: bool = False  # no claimed failure was seen

    def why(self) -> str:
        """What makes it not as claimed, in words ("" when it is)."""
        if self.ok:
            return ""
        parts = (["the claimed failure not found"] if self.missing else []) + (
            [f"not claimed: {', '.join(self.unclaimed)}"] if self.unclaimed else []
        )
        return "; ".join(parts)
