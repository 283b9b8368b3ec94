"""A spin or poll iteration blocks only if every cell it read still holds the value it read."""

from __future__ import annotations

import pytest

from panicfuzz.machine import Machine
from panicfuzz.search import verify
from tests.toys import LostWakeup


def _end_iteration_without_the_value_check(self, cpu):
    """The machine before the fix: compare with the last iteration only."""
    same = not cpu.wrote and cpu.last_reads is not None and cpu.reads == cpu.last_reads
    cells = tuple(cpu.reads) if same else None
    cpu.last_reads, cpu.reads, cpu.wrote = cpu.reads, {}, False
    return cells


@pytest.mark.parametrize("variant, kind", [("spin", "invariant"), ("poll", "invariant")])
def test_a_write_between_the_read_and_the_block_wakes_the_spinner(variant, kind, monkeypatch):
    assert verify(LostWakeup, variant, preemptions=2, events=0).holds
    monkeypatch.setattr(Machine, "end_iteration", _end_iteration_without_the_value_check)
    bug = verify(LostWakeup, variant, preemptions=2, events=0)
    assert [f.result.outcome.kind for f in bug.findings] == [kind]
