"""What the commands print: the text a person reads and the JSON a script reads.

Every function here turns results (search reports, verdicts, replays, shrinks)
into a string or a JSON-ready dict; nothing here runs a model or touches the
corpus. The commands in `panicfuzz.commands` print what these return.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path
from typing import Any, Sequence

from .claims import Claim
from .run import RunResult
from .scenarios import bind
from .search import UNBOUNDED, Finding, Verdict
from .timeline import timeline_of


def dumps(data: Any) -> str:
    """The JSON output of every command."""
    return json.dumps(data, indent=1)


def claim(expected) -> str:
    """A variant's claim in words: "holds", "fails (deadlock)", "fails (invariant crash-regs-missing)"."""
    return Claim.of(expected).text()


def verdict_word(as_expected: bool, vacuous: str | None = None) -> str:
    """A variant's verdict in a table: VACUOUS is a "holds" its runs cannot support (`search.vacuity`)."""
    return "VACUOUS" if vacuous else "as expected" if as_expected else "UNEXPECTED"


# -- JSON shapes -------------------------------------------------------------------


def failure_json(result: RunResult) -> dict[str, Any] | None:
    if not result.failed:
        return None
    size = result.size
    return {
        "kind": result.outcome.kind,
        "message": result.outcome.message,
        "signature": result.signature,
        "steps": size.steps,
        "preemptions": size.preemptions,
        "injected_events": size.injected,
    }


def found_json(f: Finding, path: str) -> dict[str, Any]:
    """A finding of `fuzz` or `verify`: its failure, where it was saved, when it was hit."""
    out = failure_json(f.result)
    assert out is not None
    out["corpus_file"] = path
    out["found_after"] = {"schedules": f.schedules, "seconds": f.seconds}
    out["scenario"] = f.scenario
    return out


def verdict_json(v: Verdict, files: list[str], as_expected: bool) -> dict[str, Any]:
    """One variant of `verify`."""
    return {
        "protocol": v.protocol,
        "variant": v.variant,
        "answer": verify_answer(v),
        "bounds": None if v.preemptions == UNBOUNDED else {"preemptions": v.preemptions, "injected_events": v.events},
        "whole_state_space": v.whole_space,
        "schedules": v.schedules,
        "distinct_states": v.states,
        "seconds": v.seconds,
        "complete": v.complete,
        "reduced": v.reduced,
        "reached_goal": v.reached,
        "shared_access": v.accessed,
        "vacuous": v.vacuous if v.complete and not v.findings else None,
        "findings": [found_json(f, p) for f, p in zip(v.findings, files)],
        "as_expected": as_expected,
    }


# -- fuzz --------------------------------------------------------------------------

FUZZ_SCHEMA = "panicfuzz.fuzz/1"


def fuzz_json(rows, args, root) -> dict[str, Any]:
    """The report of `fuzz` on corpus directory `root`: one entry per variant.

    `rows`: (model, SearchReport, new findings, the corpus's signatures -> (file, kind), schedules
    per signature counted but not shrunk, the file replayed as evidence or None, the failure
    names (`panicfuzz.claims`) of every signature seen).
    """
    variants = []
    for model_cls, report, new, known, counted, evidence, names in rows:
        claimed = Claim.of(model_cls.variant_info(report.variant))
        found = [
            {**found_json(n["finding"], n["file"]), "names": list(names[n["finding"].signature]), "saved": n["written"], "before_shrinking": n["finding"].first.as_dict()}
            for n in new
        ]
        hits = [
            {"signature": sig, "kind": kind, "names": list(names.get(sig, (kind,))), "file": path, "schedules": counted.get(sig, 0)}
            for sig, (path, kind) in sorted(known.items(), key=lambda kv: kv[1][0])
            if counted.get(sig) or path == evidence
        ]
        unproven = [{"signature": sig, "schedules": n} for sig, n in sorted(counted.items()) if sig not in known]
        seen = [(f["signature"], f["names"]) for f in found + hits] + [(u["signature"], names.get(u["signature"], ("hang",))) for u in unproven]
        judged = claimed.judge(seen)
        vacuous = report.vacuous if claimed.expected == "holds" and not seen else None  # "holds" would prove nothing
        variants.append(
            {
                "protocol": report.protocol,
                "variant": report.variant,
                "claim": claimed.as_dict(),
                "as_expected": judged.ok and vacuous is None,
                "vacuous": vacuous,
                "not_claimed": [{"signature": sig, "names": list(dict(seen)[sig])} for sig in judged.unclaimed],
                "claimed_found": not judged.missing,
                "new": found,
                "known": hits,
                "unproven": unproven,
                "evidence": evidence,
                "schedules": report.schedules,
                "reached_goal": report.reached,
                "shared_access": report.accessed,
                "seconds": report.seconds,
                "steps_per_second": round(report.steps / report.seconds) if report.seconds else None,
            }
        )
    changes = [{"file": f["corpus_file"], "change": "added"} for v in variants for f in v["new"] if f["saved"]]
    return {
        "schema": FUZZ_SCHEMA,
        "strategy": args.strategy,
        "seed": args.seed,
        "max_schedules": args.max_schedules,
        "corpus": str(root),
        "variants": variants,
        "corpus_changes": changes,
        "totals": {
            "variants": len(variants),
            "as_expected": sum(v["as_expected"] for v in variants),
            "unexpected": sum(not v["as_expected"] for v in variants),
            "new": sum(len(v["new"]) for v in variants),
            "known": sum(len(v["known"]) for v in variants),
            "unproven": sum(len(v["unproven"]) for v in variants),
            "schedules": sum(v["schedules"] for v in variants),
            "seconds": round(sum(v["seconds"] for v in variants), 3),
        },
    }


def fuzz_text(doc: dict[str, Any], timelines: dict[str, str], *, quiet: bool = False, width: int = 200) -> str:
    """The summary a person reads in ten seconds: a row per variant, new findings drawn, the corpus changes."""
    t = doc["totals"]
    shown = [v for v in doc["variants"] if not quiet or not v["as_expected"] or v["new"]]
    head = ("variant", "claim", "verdict", "new", "known", "schedules", "seconds")
    table = [
        (
            f"{v['protocol']}/{v['variant']}",
            Claim.from_dict(v["claim"]).kinds(),
            verdict_word(v["as_expected"], v["vacuous"]),
            str(len(v["new"])),
            str(len(v["known"])),
            str(v["schedules"]),
            f"{v['seconds']:.1f}",
        )
        for v in shown
    ]
    out = plain_table(head, table, right=(3, 4, 5, 6)) if table else []
    out += wrap(
        f"{t['variants']} variant{'s' * (t['variants'] != 1)}: {t['as_expected']} as expected, {t['unexpected']} unexpected; "
        f"{t['new']} new finding{'s' * (t['new'] != 1)}, {t['known']} known; {t['schedules']} schedules in {t['seconds']:.1f} s "
        f"({doc['strategy']}, seed {doc['seed']})",
        width,
    )
    wrong = [v for v in shown if not v["as_expected"]]
    if wrong:
        out += ["", "not as claimed:"]
        for v in wrong:
            why = ([f"VACUOUS: {v['vacuous']} (its \"holds\" proves nothing)"] if v["vacuous"] else [])
            why += ([] if v["claimed_found"] else ["no claimed failure found"]) + [
                f"{n['signature']} ({'; '.join(n['names'][1:] or n['names'])})" for n in v["not_claimed"]
            ]
            out += wrap(f"  {v['protocol']}/{v['variant']}  {claim_text(v['claim'])}, but: {', '.join(why)}", width, "    ")
    known = [v for v in shown if v["known"]]
    if known and not quiet:
        out += ["", f"known bugs hit (files in {doc['corpus']}/<protocol>/<variant>/; show one: panicfuzz show FILE):"]
        name = max(len(f"{v['protocol']}/{v['variant']}") for v in known)
        for v in known:
            files = " ".join(Path(h["file"]).stem + ("" if h["schedules"] else " (not hit; its replay still fails)") for h in v["known"])
            out += wrap(f"  {v['protocol'] + '/' + v['variant']:<{name}}  {files}", width, " " * (name + 4))
    unproven = [v for v in shown if v["unproven"]]
    if unproven:
        out += ["", *wrap("unproven hangs (the step budget ran out, no deadlock or livelock proven; --save-unproven shrinks and saves them):", width)]
        for v in unproven:
            hangs = " ".join(f"{u['signature']} ({_n(u['schedules'], 'schedule')})" for u in v["unproven"])
            out += wrap(f"  {v['protocol']}/{v['variant']}  {hangs}", width, "    ")
    for v in doc["variants"]:
        for f in v["new"]:
            out += ["", f"NEW in {v['protocol']}/{v['variant']}: {f['signature']}", "", timelines[f["signature"]], ""]
            out += wrap(
                f"found after {f['found_after']['schedules']} schedules ({f['found_after']['seconds']:.2f} s); "
                f"shrunk from {_size(f['before_shrinking'])} to {_size(f)}",
                width,
            )
            out.append(f"replay: panicfuzz replay {f['corpus_file']}")
    changes = doc["corpus_changes"]
    out.append("")
    if changes:
        out.append(f"corpus: {len(changes)} file{'s' * (len(changes) != 1)} added (new signatures):")
        out += [f"  {c['file']}" for c in changes]
    else:
        out.append(f"corpus: unchanged ({doc['corpus']})")
    return "\n".join(out)


def wrap(line: str, width: int, indent: str = "") -> list[str]:
    """A line of prose at `width` columns (a path or a signature is never broken)."""
    return textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False) or [""]


def _n(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _size(d: dict) -> str:
    return f"{d['preemptions']}p/{d['injected_events']}i/{d['steps']} steps"


def claim_text(c: dict) -> str:
    return Claim.from_dict(c).text()


def plain_table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Plain aligned columns (no box drawing: it pastes into a mail)."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return [line(head), *map(line, rows)]


# -- verify ------------------------------------------------------------------------


def bounds(v: Verdict) -> str:
    p, e = v.preemptions, v.events
    if p == UNBOUNDED:
        return "the whole state space"
    return f"{p} preemption{'s' * (p != 1)} and {e} injected event{'s' * (e != 1)}"


def verify_answer(v: Verdict) -> str:
    if v.findings:
        return "counterexample"
    if not v.complete:
        return "inconclusive"
    return "vacuous" if v.vacuous else "holds"


def verify_text(model_cls, v: Verdict, files: list[str], expected, as_expected: bool, **drawing) -> str:
    parts = []
    for f, path in zip(v.findings, files):
        parts.append(timeline_of(bind(model_cls, f.scenario), v.variant, f.result, **drawing))
        parts.append(f"\ncounterexample after {f.schedules} schedules ({f.seconds:.2f} s, exhaustive within {bounds(v)})")
        parts.append(f"saved: {path}\nreplay: panicfuzz replay {path}\n")
    stats = f"{v.schedules} schedules, {v.states} distinct states, {v.seconds:.2f} s"
    if v.findings:
        answer = f"{len(v.findings)} counterexample(s) within {bounds(v)}"
    elif v.complete and v.vacuous:
        answer = f"VACUOUS within {bounds(v)}: {v.vacuous}, so \"holds\" would prove nothing"
    elif v.complete and v.preemptions == UNBOUNDED:
        answer = "holds: the whole state space was explored"
    elif v.whole_space:
        answer = f"holds within {bounds(v)}; the bounds were not binding: this is the whole state space"
    elif v.complete:
        answer = f"holds within {bounds(v)}"
    else:
        answer = f"inconclusive: --max-schedules spent before every schedule within {bounds(v)} was explored"
    parts.append(f"{v.protocol}/{v.variant}: {answer} ({stats}); expected {claim(expected)}: {verdict_word(as_expected)}")
    return "\n".join(parts)


# -- replay ------------------------------------------------------------------------


def replay_entry(path: Path, data: dict, variant: str, result: RunResult, diverged: dict | None, *, strict: bool) -> dict[str, Any]:
    """One case's answer (see `panicfuzz.commands.replay`); `ok`: it behaved as checked."""
    saved = data["failure"]["signature"]
    own = variant == data["variant"]
    reproduced = result.signature == saved
    identical = reproduced and result.log_digest() == data.get("event_log_sha256") if own else None
    if own:
        answer = "reproduced" if identical else ("log-differs" if reproduced else "not-reproduced")
        ok = answer == "reproduced"
    else:
        answer = "reproduced" if reproduced else "fails-differently" if result.failed else "weak" if diverged else "survived"
        ok = answer == "survived" or (answer == "weak" and not strict)
    return {
        "file": str(path),
        "variant": variant,
        "own_variant": own,
        "answer": answer,
        "ok": ok,
        "saved_signature": saved,
        "identical": identical,
        "diverged": diverged,
        "failure": failure_json(result),
    }


def replay_line(e: dict[str, Any]) -> str:
    """The answer for one case, in words."""
    f = e["failure"]
    if e["own_variant"]:
        what = {
            "reproduced": "reproduced",
            "log-differs": "reproduced, but the event log differs",
            "not-reproduced": f"NOT reproduced (the replay gives {f['signature'] if f else 'no failure'})",
        }[e["answer"]]
        return f"{e['file']}: {what}"
    if e["answer"] == "weak":
        d = e["diverged"]
        missed = sorted({a.split("@")[0] for a in d["not_delivered"]})
        why = "the run ended first" if d["not_offered"] is None else f"{_offered(d['not_offered'])} no longer offered"
        what = f"survived, but the schedule diverged at decision {d['decision']} ({why})"
        if missed:
            what += f" and the injected {' and '.join(missed)} {'was' if len(missed) == 1 else 'were'} never delivered"
        else:
            what += "; every injected event was still delivered"
    else:
        what = {
            "reproduced": f"reproduced: fails with the same {f['kind'] if f else ''}",
            "fails-differently": f"FAILS differently: {f['signature'] if f else ''}",
            "survived": "survived the same schedule",
        }[e["answer"]]
    return f"{e['file']} on {e['variant']}: {what}"


def _offered(action: str) -> str:
    if action.startswith("cpu") and action[3:].isdigit():
        return f"CPU{action[3:]}"
    event, _, cpu = action.partition("@cpu")
    return f"{event} on CPU{cpu}" if cpu else f"{event} (broadcast)"


def replay_totals(entries: list[dict[str, Any]], variant: str | None) -> dict[str, Any]:
    """Counts of each answer, and the totals line."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["answer"]] = counts.get(e["answer"], 0) + 1
    n = len(entries)
    failed = sum(not e["ok"] for e in entries)
    cases = f"{n} case{'s' * (n != 1)}"
    if variant is None or all(e["own_variant"] for e in entries):
        line = f"{cases}: {counts.get('reproduced', 0)} reproduced identically, {n - counts.get('reproduced', 0)} not"
    else:
        parts = [f"{counts.get('survived', 0)} survived the same schedule"]
        parts.append(f"{counts.get('weak', 0)} survived only after a divergence (weak)")
        parts.append(f"{counts.get('reproduced', 0) + counts.get('fails-differently', 0)} failed")
        line = f"{cases} on {variant}: " + ", ".join(parts)
    return {"cases": n, "failed": failed, "answers": counts, "line": line}


# -- diff --------------------------------------------------------------------------


def diff_text(doc: dict[str, Any], runs: list, start: int, *, width: int, steps: bool) -> str:
    """Two timelines side by side, from log entry `start` (a few rows before the first difference)."""
    from .timeline import headline, rows, text

    e, d = doc["first_different_entry"], doc["first_different_decision"]
    if doc["identical"]:
        return f"{runs[0][0]} on {runs[0][2]} and {runs[1][0]} on {runs[1][2]}: identical runs"
    out = [f"A: {runs[0][0]} on {runs[0][2]}", f"B: {runs[1][0]} on {runs[1][2]}"]
    out.append(
        f"first difference: event {e} of the log" if e is not None else "the event logs are identical"
    )
    if d is not None:
        out[-1] += f"; the schedules differ from decision {d}"
    half = max(40, (width - 3) // 2)
    panes = []
    for _, model_cls, variant, r in runs:
        model = model_cls(variant)
        labels = [model.cpu_label(i) for i in range(model_cls.ncpus)]
        drawn = rows(r.log[start:], (), "", r.clock[start:], [(i - start, c, t) for i, c, t in r.notes if i >= start])
        title = headline(model_cls.name, variant, r.outcome.kind, model_cls.ncpus, r.size.as_dict())
        panes.append(text(title, labels, drawn, r.outcome.message or "", width=half, steps=steps).splitlines())
    out.append("")
    for left, right in itertools.zip_longest(*panes, fillvalue=""):
        out.append(f"{left:<{half}} | {right}".rstrip())
    return "\n".join(out)


# -- shrink ------------------------------------------------------------------------


def short(size) -> str:
    return f"{size.preemptions}p/{size.injected}i/{size.switches}s/{size.steps} steps"


def shrink_text(path: Path, before, after, changed: bool, report) -> str:
    proof = "minimal: proven" if report.minimal else "minimality not proven within --proof-budget"
    if changed:
        same = (before.preemptions, before.injected, before.switches, before.steps) == (
            after.preemptions,
            after.injected,
            after.switches,
            after.steps,
        )
        what = f"shrunk from {short(before)} to {short(after)}{' (a simpler trace)' if same else ''}; {proof}"
    else:
        what = f"no smaller reproducer than {short(after)} ({proof}); left unchanged"
    return f"{path}: {what} in {report.seconds:.2f} s\n  {report.summary()}"
