"""panic_path: one panic() with printk, pstore/HPET, the stop method and kdump; each claim by searching.

A failing version's search stops at its first failure (of the claimed kind); the
specific cross-subsystem bug of each version is a shipped case (tests/test_corpus.py
replays every one on its variant and on both holding variants).
"""

from __future__ import annotations

import pytest

from panicfuzz import protocols
from panicfuzz.search import search
from tests.support import SCALE, assert_expected, saved_cases, search_variant

MODEL = protocols.load("panic_path")
BUGS = {
    "v4.10-post-notifiers": "smp_send_stop() had stopped it (in REBOOT_VECTOR), offline",
    "v5.13-post-notifiers": "CPU2 spins in console_trylock_spinning() on console_waiter",
    "v6.9-post-notifiers": "CPU2 spins in read_hpet() on hpet.lock, held by CPU0 since read_hpet();\nCPU0 is halted in crash_nmi_callback()",
    "v6.9-oops-no-panic": "CPU2 spins in read_hpet() on hpet.lock, held by CPU0 since read_hpet()",
}


@pytest.mark.parametrize("variant", sorted(BUGS))
def test_failing_versions_fail_as_claimed(variant):
    report = search(MODEL, variant, max_schedules=300 * SCALE, seed=0, first_only=True)
    assert_expected("panic_path", variant, report)
    assert any(BUGS[variant] in p.read_text().replace("\\n", "\n") for p in saved_cases("panic_path", variant))


@pytest.mark.parametrize("variant", ["v6.9", "v6.9-post-notifiers-tony"])
def test_fixed_versions_hold(variant):
    assert_expected("panic_path", variant, search_variant("panic_path", variant, max_schedules=150, seed=1))
