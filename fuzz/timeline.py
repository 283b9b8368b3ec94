"""The CPU-column timeline: what a user sees first when a failure is found.

One column per CPU, one row per event, function entries and interrupt
entry/exit marked, injected events and preemptions drawn across all columns,
an interrupt left pending by a mask noted where it becomes pending, a stalled
CPU's column dotted while it stalls, in the
style of the diagrams kernel developers write on LKML. `rows()` reads a run
into rows; the formats draw them: `text` (any width; long cells wrap, never
cut), `mail` (72 columns, plain ASCII), `markdown` (a table), `html` and `svg`
(rich's export of the text).
"""

from __future__ import annotations

import io
import re
import textwrap
from typing import TYPE_CHECKING, Sequence

import attrs

from .machine import STALL_BEGINS, STALL_ENDS
from .trace import Run, StallFor, parse_action

if TYPE_CHECKING:
    from .model import Model
    from .run import RunResult

SCREEN = 200  # the width off a terminal (and of the timeline saved in a corpus file)
MAIL = 72
FORMATS = ("text", "mail", "markdown", "html", "svg")


@attrs.frozen
class Row:
    """One line of a timeline before it is drawn."""

    step: int
    ns: int | None  # virtual time, when the run recorded it
    cpu: int | None  # None: spans every column
    depth: int
    text: str
    kind: str = "event"  # event | inject | preempt | pending | note


def rows(log: Sequence[tuple], trace: Sequence = (), kinds: str = "", clock: Sequence[int] = (), notes: Sequence[tuple] = ()) -> list[Row]:
    """The rows of a run: its event log, with its preemptions (from trace and kinds) and notes."""
    preempt = _preemptions(trace, kinds)
    pending: dict[int, list[tuple[int, str]]] = {}
    for at, cpu, text in notes:
        pending.setdefault(at, []).append((cpu, text))
    out: list[Row] = []
    marked: set[int] = set()
    depth: dict[int, int] = {}
    for i, (step, cpu, d, text) in enumerate(log):
        ns = clock[i] if i < len(clock) else None
        for c, note in pending.get(i, ()):
            out.append(Row(step, ns, c, depth.get(c, 0), note, "pending"))
        if cpu is not None:
            for k in sorted(s for s in preempt if s <= step and s not in marked):
                marked.add(k)
                out.append(Row(k, ns, None, 0, preempt[k], "preempt"))
            depth[cpu] = d
        out.append(Row(step, ns, cpu, d, text, "event" if cpu is not None else "inject"))
    for c, note in pending.get(len(log), ()):
        out.append(Row(out[-1].step if out else 0, None, c, depth.get(c, 0), note, "pending"))
    return out


def _preemptions(trace: Sequence, kinds: str) -> dict[int, str]:
    """Step number -> what the preemption before that step did ("decision 12: CPU1 preempts CPU0")."""
    out = {}
    run_no, last = 0, 0
    for i, (action, kind) in enumerate(zip(trace, kinds)):
        action = parse_action(action) if isinstance(action, str) else action
        if not isinstance(action, Run):
            continue
        if kind == "p":
            out[run_no] = f"preempted at decision {i}: CPU{last} -> CPU{action.cpu}"
        last = action.cpu
        run_no += 1
    return out


# -- text ----------------------------------------------------------------------------


def text(
    title: str,
    labels: Sequence[str],
    timeline: Sequence[Row],
    footer: str = "",
    *,
    width: int = SCREEN,
    steps: bool = False,
    ascii: bool = False,
) -> str:
    """Columns that share `width`; a cell too long for its column wraps under itself."""
    gutter = _gutter(timeline) if steps else None
    pad = len(gutter(timeline[0], None)) if gutter and timeline else 0
    room = width - pad
    widest = max([2 * r.depth + len(_cell(r)) for r in timeline if r.cpu is not None] + [len(x) for x in labels]) + 2
    col = max(16, min(widest, room // len(labels)))
    total = col * len(labels)
    lines = _wrap(title, width) + [""]
    lines.append((" " * pad + "".join(label[: col - 1].ljust(col) for label in labels)).rstrip())
    previous = None
    stalled: set[int] = set()  # CPUs in a stall: their columns carry a dotted line meanwhile
    for r in timeline:
        left = gutter(r, previous) if gutter else ""
        previous = r
        if r.cpu is not None and r.text == STALL_ENDS:
            stalled.discard(r.cpu)
        if r.cpu is None:
            fill = "=" if r.kind == "inject" else "-"
            for j, chunk in enumerate(_fold(r.text, total - 8)):
                lines.append((left if j == 0 else " " * pad) + f"{fill * 3} {chunk} ".ljust(total, fill))
            continue
        # A row holds one CPU's event: its text may run on over the (empty) columns to its right.
        indent = "  " * r.depth
        for j, chunk in enumerate(_fold(_cell(r), total - col * r.cpu - len(indent) - 1, "    ")):
            line = ((left if j == 0 else " " * pad) + " " * (col * r.cpu) + indent + chunk).rstrip()
            lines.append(_dotted(line, [pad + col * c for c in sorted(stalled - {r.cpu})]))
        if r.text.startswith(STALL_BEGINS):
            stalled.add(r.cpu)
    if footer:
        lines.append("")
        for para in footer.splitlines():
            lines += _wrap(para, width, "  ")
    out = "\n".join(lines)
    return _ascii(out) if ascii else out


def _dotted(line: str, at: list[int]) -> str:
    """`line` with the dotted line of each stalled CPU's column at the positions `at`, where free."""
    for pos in at:
        if len(line) <= pos:
            line = line.ljust(pos) + "┆"
        elif line[pos] == " ":
            line = line[:pos] + "┆" + line[pos + 1 :]
    return line


_BREAK = re.compile(r"[^\s(,]*[(,]?\s*")


def _fold(text: str, width: int, indent: str = "") -> list[str]:
    """`text` in lines of at most `width`, broken after a space, "(" or "," where it can be."""
    width = max(width, 8)
    lines, line = [], ""
    for piece in filter(None, _BREAK.findall(text)):
        while len(piece) > width - len(indent):  # no break in it: cut it
            room = width - len(line)
            line, piece = line + piece[:room], piece[room:]
            lines.append(line.rstrip())
            line = indent
        if len(line) + len(piece.rstrip()) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += piece
    return lines + [line.rstrip()] if line.strip() or not lines else lines


def _cell(r: Row) -> str:
    return f"({r.text})" if r.kind == "pending" else r.text


def _gutter(timeline: Sequence[Row]):
    """Step number and virtual time, left of the columns."""
    digits = len(str(max(r.step for r in timeline)))
    timed = any(r.ns for r in timeline)

    def gutter(r: Row, previous: Row | None) -> str:
        """The step and time of a row, blank when the same as the row before."""
        same = previous is not None and (previous.step, previous.ns) == (r.step, r.ns)
        t = f" {_ns(r.ns):>9}" if timed else ""
        return " " * (digits + len(t) + 2) if same else f"{r.step:>{digits}}{t}  "

    return gutter


def _ns(ns: int | None) -> str:
    if ns is None:
        return ""
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns >= scale:
            return f"{ns / scale:g}{unit}"
    return f"{ns}ns"


def _wrap(line: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


_ASCII = str.maketrans({"┆": ":", "…": "...", "→": "->", "←": "<-", "—": "-", "–": "-", "≤": "<=", "≥": ">=", "×": "x"})


def _ascii(s: str) -> str:
    return s.translate(_ASCII).encode("ascii", "replace").decode("ascii")


# -- markdown, html, svg ---------------------------------------------------------------


def markdown(title: str, labels: Sequence[str], timeline: Sequence[Row], footer: str = "") -> str:
    """A table: step, time, one column per CPU; spanning rows in bold."""
    esc = lambda s: s.replace("|", "\\|").replace("<", "&lt;")  # noqa: E731
    timed = any(r.ns for r in timeline)
    head = ["step"] + (["time"] if timed else []) + [esc(x) for x in labels]
    lines = [f"**{esc(title)}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in timeline:
        cells = [""] * len(labels)
        if r.cpu is None:
            cells[0] = f"**{esc(r.text)}**"
        else:
            code = r.text.replace("`", "'")
            cells[r.cpu] = "&nbsp;" * (2 * r.depth) + (f"*{esc(r.text)}*" if r.kind == "pending" else f"`{code}`")
        lines.append("| " + " | ".join([str(r.step)] + ([_ns(r.ns)] if timed else []) + cells) + " |")
    if footer:
        lines += [""] + [esc(line) for line in footer.splitlines()]
    return "\n".join(lines)


def export(drawn: str, fmt: str, title: str, width: int) -> str:
    """The text timeline as a standalone HTML page or SVG image (rich's export), in colour."""
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=width, file=io.StringIO(), color_system="truecolor", force_terminal=True)
    for line in drawn.splitlines():
        style = ""
        if line.startswith("==="):
            style = "bold red"
        elif line.lstrip("0123456789 .nsmu").startswith("---"):
            style = "yellow"
        elif line.strip().startswith("("):
            style = "dim"
        console.print(Text(line, style=style), soft_wrap=True)
    return console.export_svg(title=title) if fmt == "svg" else console.export_html(inline_styles=True)


def headline(protocol: str, variant: str, kind: str | None, ncpus: int, size: dict, stalls: int = 0) -> str:
    verdict = "HOLDS" if kind is None else kind.upper()
    p, i, s = size["preemptions"], size["injected_events"], size["steps"]
    of = f" ({stalls} stall{'s' * (stalls != 1)})" if stalls else ""
    return (
        f"{protocol} / {variant}: {verdict}   ({ncpus} CPU{'s' * (ncpus != 1)}; "
        f"{p} preemption{'s' * (p != 1)}, {i} injected event{'s' * (i != 1)}{of}, {s} steps)"
    )


def timeline_of(
    model_cls: type[Model], variant: str, result: RunResult, *, fmt: str = "text", width: int = SCREEN, steps: bool = False
) -> str:
    """The timeline of one run of `variant`, titled with its verdict and size, in format `fmt`."""
    model = model_cls(variant)
    labels = [model.cpu_label(i) for i in range(model_cls.ncpus)]
    from .scenarios import describe

    stalls = sum(isinstance(a, StallFor) for a in result.trace)
    title = headline(model_cls.name, variant, result.outcome.kind, model_cls.ncpus, result.size.as_dict(), stalls)
    if scenario := describe(model_cls):  # a model bound to a scenario other than its defaults
        title += f"   [{scenario}]"
    drawn = rows(result.log, result.trace, result.kinds, result.clock, result.notes)
    footer = result.outcome.message or ""
    if fmt == "markdown":
        return markdown(title, labels, drawn, footer)
    if fmt == "mail":
        return text(title, labels, drawn, footer, width=min(width, MAIL), steps=steps, ascii=True)
    out = text(title, labels, drawn, footer, width=width, steps=steps)
    return export(out, fmt, title, width) if fmt in ("html", "svg") else out
