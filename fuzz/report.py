"""The campaign report, from the saved state and corpus alone: markdown and self-contained HTML.

Verdict table (one `Observation` line per variant against its claim, "not
run" for variants without schedules), per-variant figures, every finding
with its timeline and first/last seen and hit counts, verification bounds,
and per model file the line and branch coverage with the never-executed
lines shown (highlighted in the HTML listing).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import attrs

from . import corpus
from .campaign import Progress, State, Verdict, _bounds, _duration, now, verdicts
from .modelcov import FileCoverage, analyse, merge


@attrs.frozen
class Report:
    markdown: str
    html: str


def coverage_of(progress: list[Progress]) -> dict[Path, FileCoverage]:
    """Per model file, the union of what the given variants executed."""
    merged: dict[str, dict[str, dict[str, list]]] = {}
    for p in progress:
        merge(merged.setdefault(p.model_dir, {}), p.coverage)
    out = {}
    for root, files in merged.items():
        for rel, got in sorted(files.items()):
            path = Path(root) / rel
            if path.exists():
                out[path] = analyse(path, got["lines"], got["arcs"])
    return out


def pct(cov: dict[Path, FileCoverage]) -> str:
    if not cov:
        return "-"
    st, ex = sum(c.statements for c in cov.values()), sum(c.executed for c in cov.values())
    br, tk = sum(c.branches for c in cov.values()), sum(c.taken for c in cov.values())
    return f"{100 * ex / max(st, 1):.0f}% lines, {100 * tk / max(br, 1):.0f}% branches"


def _ranges(lines: tuple[int, ...]) -> str:
    out, start, prev = [], None, None
    for n in lines:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    return ", ".join(out)


def verification(p: Progress) -> str:
    if p.claim["expected"] != "holds":
        return "-"
    if p.verify["bound"] is not None:
        return f"holds within {_bounds(*p.verify['bound'])}"
    return "not verified yet" if not p.verify["schedules"] else f"inconclusive at K=E={p.verify['next']}"


def _timeline(root: Path, f: dict[str, Any]) -> list[str]:
    if "file" not in f:
        return []
    try:
        return [str(line) for line in corpus.load(root / f["file"]).get("timeline", [])]
    except corpus.CorpusError:
        return []


def render(state: State, root: Path, *, running: str | None = None) -> Report:
    progress = list(state.progress.values())
    vs = verdicts(state)
    total_cov = coverage_of(progress)
    schedules = sum(p.schedules for p in progress)
    head = [
        "# panicfuzz campaign report",
        "",
        f"Corpus `{root}`; {len(progress)} variants, {sum(p.units for p in progress)} units, {schedules} schedules "
        f"over {state.sessions} session(s), {_duration(state.elapsed)} of campaign time; model coverage {pct(total_cov)}. "
        f"Written {now()}{'; ' + running if running else ''}.",
    ]
    md = head + ["", "## Verdicts", "", "```", *[v.line for v in vs], "```", ""]
    md += ["## Variants", "", "| variant | units | schedules | states | coverage | findings new/known | last new | verification |", "|---|---|---|---|---|---|---|---|"]
    for p in progress:
        new, known = p.new_known()
        md.append(
            f"| {p.key} | {p.units} | {p.schedules} | {len(p.states)} | {pct(coverage_of([p]))} | {new}/{known} | "
            f"{p.last_new or '-'} | {verification(p)} |"
        )
    md += ["", "## Findings", ""]
    findings = [(p, sig, f) for p in progress for sig, f in sorted(p.findings.items())]
    if not findings:
        md.append("None.")
    for p, sig, f in findings:
        md += [
            f"### {p.key}: {f['kind']} `{sig}` ({'new' if f.get('new') else 'known'})",
            "",
            f"First seen {f['first_seen']}, last seen {f.get('last_seen', '-')}, hit {f['hits']} time(s); "
            f"file `{f.get('file', '-')}`" + (f"; replay: `panicfuzz replay {root / f['file']}`" if "file" in f else ""),
            "",
        ]
        tl = _timeline(root, f)
        if tl:
            md += ["```", *tl, "```", ""]
    md += ["## Model coverage", "", "Lines and branches of the model files that the campaign's runs executed (measured on replay "
           "of the runs that reached a new state).", "", "| file | lines | branches | never executed |", "|---|---|---|---|"]
    for path, c in total_cov.items():
        md.append(f"| {path.name} | {c.executed}/{c.statements} ({c.line_pct:.0f}%) | {c.taken}/{c.branches} ({c.branch_pct:.0f}%) | {_ranges(c.missing) or '-'} |")
    md.append("")
    return Report("\n".join(md), _html(state, root, vs, progress, findings, total_cov, head[-1]))


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}.ok{color:#070}.bad{color:#b00;font-weight:bold}.nr{color:#888}
.src{font:12px monospace;white-space:pre;margin:0}.src .miss{background:#fdd}.src .part{background:#ffc}.src i{color:#999;font-style:normal}
"""


def _html(state: State, root: Path, vs: list[Verdict], progress, findings, total_cov, summary: str) -> str:
    e = html.escape
    out = [f"<!doctype html><meta charset=utf-8><title>panicfuzz campaign report</title><style>{_CSS}</style>",
           "<h1>panicfuzz campaign report</h1>", f"<p>{e(summary)}</p>", "<h2>Verdicts</h2><table>"]
    for v in vs:
        cls = "nr" if v.ok is None else ("ok" if v.ok else "bad")
        out.append(f"<tr><td class={cls}>{e(v.line)}</td></tr>")
    out.append("</table><h2>Variants</h2><table><tr><th>variant<th>units<th>schedules<th>states<th>coverage<th>findings new/known<th>last new<th>verification</tr>")
    for p in progress:
        new, known = p.new_known()
        cells = [p.key, p.units, p.schedules, len(p.states), pct(coverage_of([p])), f"{new}/{known}", p.last_new or "-", verification(p)]
        out.append("<tr>" + "".join(f"<td>{e(str(c))}" for c in cells) + "</tr>")
    out.append("</table><h2>Findings</h2>")
    if not findings:
        out.append("<p>None.</p>")
    for p, sig, f in findings:
        out.append(f"<h3>{e(p.key)}: {e(f['kind'])} <code>{e(sig)}</code> ({'new' if f.get('new') else 'known'})</h3>")
        out.append(f"<p>First seen {e(f['first_seen'])}, last seen {e(f.get('last_seen', '-'))}, hit {f['hits']} time(s); file <code>{e(f.get('file', '-'))}</code></p>")
        tl = _timeline(root, f)
        if tl:
            out.append(f"<pre>{e(chr(10).join(tl))}</pre>")
    out.append("<h2>Model coverage</h2><p>Never-executed lines are red, branch lines with an exit never taken yellow.</p><table>"
               "<tr><th>file<th>lines<th>branches<th>never executed</tr>")
    for path, c in total_cov.items():
        out.append(f"<tr><td>{e(path.name)}<td>{c.executed}/{c.statements} ({c.line_pct:.0f}%)<td>{c.taken}/{c.branches} ({c.branch_pct:.0f}%)<td>{e(_ranges(c.missing))}</tr>")
    out.append("</table>")
    for path, c in total_cov.items():
        missing, partial = set(c.missing), set(c.partial)
        rows = []
        for n, text in enumerate(path.read_text().splitlines(), 1):
            cls = " class=miss" if n in missing else (" class=part" if n in partial else "")
            rows.append(f"<div{cls}><i>{n:4d}</i>  {e(text)}</div>")
        out.append(f"<details><summary>{e(str(path))}</summary><div class=src>{''.join(rows)}</div></details>")
    return "\n".join(out) + "\n"


def write(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """report.md and report.html in `out_dir`, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "report.md", out_dir / "report.html")
    for path, text in zip(paths, (report.markdown, report.html)):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return paths
