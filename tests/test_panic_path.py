"""panic_path: one panic() with printk, pstore/HPET, the stop method and kdump; each claim by searching."""

from __future__ import annotations

import pytest

from tests.support import assert_expected, saved_cases, search_variant

FAILING = {
    "v4.10-post-notifiers": "CPU0's registers are not in the crash dump",
    "v5.13-post-notifiers": "spins in console_trylock_spinning()",
    "v6.9-post-notifiers": "spins in read_hpet() (in #GP) on hpet.lock, which it holds itself",
    "v6.9-oops-no-panic": "spins in read_hpet() on hpet.lock, held by CPU0 since read_hpet()",
}


@pytest.mark.parametrize("variant", sorted(FAILING))
def test_failing_versions_fail_as_claimed(variant):
    report = search_variant("panic_path", variant, max_schedules=150, seed=0)
    assert_expected("panic_path", variant, report)
    assert any(FAILING[variant] in f.result.outcome.message for f in report.findings), [
        f.result.outcome.message for f in report.findings
    ]


@pytest.mark.parametrize("variant", ["v6.9", "v6.9-post-notifiers-tony"])
def test_fixed_versions_hold(variant):
    assert_expected("panic_path", variant, search_variant("panic_path", variant, max_schedules=150, seed=1))


def test_the_nmi_shoot_down_inside_read_hpet_is_a_shipped_case():
    messages = [p.read_text() for p in saved_cases("panic_path", "v6.9-post-notifiers")]
    assert any("spins in read_hpet() on hpet.lock, held by CPU0 since read_hpet()" in m for m in messages)
