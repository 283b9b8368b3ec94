"""The CPU-column timeline: what a user sees first when a failure is found.

One column per CPU, one row per event, function entries and interrupt
entry/exit marked, injected events drawn across all columns, in the style of
the diagrams kernel developers write on LKML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .model import Model
    from .run import RunResult

SCREEN = 200  # columns share this width, each between 40 and 60


def render(
    title: str,
    labels: Sequence[str],
    log: Sequence[tuple],
    footer: str = "",
) -> str:
    """Draw `log` (entries (step, cpu, depth, text); cpu None spans all columns)."""
    cells = [(cpu, "  " * depth + text) for _, cpu, depth, text in log]
    widest = max([len(t) for c, t in cells if c is not None] + [len(x) for x in labels]) + 2
    width = min(widest, max(40, min(60, SCREEN // len(labels))))
    total = width * len(labels)
    lines = [title, "", "".join(label.ljust(width) for label in labels).rstrip()]
    for cpu, text in cells:
        if cpu is None:
            lines.append(f"=== {text} ".ljust(total, "="))
            continue
        if len(text) > width - 1:
            text = text[: width - 2] + "…"
        lines.append((" " * (width * cpu) + text).rstrip())
    if footer:
        lines += ["", footer]
    return "\n".join(lines)


def headline(protocol: str, variant: str, kind: str | None, ncpus: int, size: dict) -> str:
    verdict = "HOLDS" if kind is None else kind.upper()
    p, i, s = size["preemptions"], size["injected_events"], size["steps"]
    return (
        f"{protocol} / {variant}: {verdict}   ({ncpus} CPUs; "
        f"{p} preemption{'s' * (p != 1)}, {i} injected event{'s' * (i != 1)}, {s} steps)"
    )


def timeline_of(model_cls: type[Model], variant: str, result: RunResult) -> str:
    """The timeline of one run of `variant`, titled with its verdict and size."""
    model = model_cls(variant)
    labels = [model.cpu_label(i) for i in range(model_cls.ncpus)]
    from .scenarios import describe

    title = headline(model_cls.name, variant, result.outcome.kind, model_cls.ncpus, result.size.as_dict())
    if scenario := describe(model_cls):  # a model bound to a scenario other than its defaults
        title += f"   [{scenario}]"
    return render(title, labels, result.log, footer=result.outcome.message)
