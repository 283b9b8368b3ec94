"""Claims that say what fails: a failure of another key than claimed is not as claimed."""

from __future__ import annotations

import json

import pytest

from panicfuzz import loader
from panicfuzz.claims import Claim, answers, names
from panicfuzz.cells import Cell
from panicfuzz.cli import main
from panicfuzz.errors import ModelLoadError
from panicfuzz.kernel import BUG_ON, READ_ONCE, WRITE_ONCE
from panicfuzz.model import Model, Variant
from panicfuzz.search import search


class TwoKeys(Model):
    """CPU1 writes `x`; CPU0 reads it once: 0 breaks invariant `early`, 1 breaks `late`
    (variant `late-only`: CPU0 reads only after CPU1 is done, so only `late` can fail)."""

    name = "toy-two-keys"
    ncpus = 2
    variants = (
        Variant("either", "fails", "both keys can fail", must=("invariant early", "invariant late")),
        Variant("claims-early", "fails", "claims only early; late fails too", must=("invariant early",)),
        Variant("plain", "fails", "the plain form: any invariant", kind="invariant"),
        Variant("plain-but-not-late", "fails", "the plain form, late excluded", kind="invariant", must_not=("invariant late",)),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.x = Cell("x", 0)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 1:
            await WRITE_ONCE(self.x, 1)
            return
        v = await READ_ONCE(self.x)
        BUG_ON(v == 0, "early", "CPU0 read x before CPU1 wrote it")
        BUG_ON(v == 1, "late", "CPU0 read x after CPU1 wrote it")


def judged(variant: str):
    report = search(TwoKeys, variant, max_schedules=100, seed=0)
    return Claim.of(TwoKeys.variant_info(variant)).judge((f.signature, answers(f.result.outcome)) for f in report.findings)


def test_a_search_is_judged_against_the_named_keys():
    assert judged("either").ok
    j = judged("claims-early")
    assert not j.ok and not j.missing and len(j.unclaimed) == 1 and j.unclaimed[0].startswith("invariant-")
    assert judged("plain").ok  # the plain form: any failure of the kind will do
    assert not judged("plain-but-not-late").ok


def test_the_judgement_rules():
    early, late, dl = ("s1", ("invariant", "invariant early")), ("s2", ("invariant", "invariant late")), ("s3", ("deadlock", "deadlock in f()"))
    sharp = Claim("fails", must=("invariant early",))
    assert sharp.judge([early]).ok
    assert sharp.judge([late]).missing and sharp.judge([late]).unclaimed == ["s2"]
    assert sharp.judge([early, dl]).unclaimed == ["s3"]
    assert Claim("fails", kind="invariant").judge([early, dl]).ok  # plain: other kinds are tolerated
    assert not Claim("fails", kind="invariant", must_not=("deadlock",)).judge([early, dl]).ok
    assert Claim("holds").judge([]).ok and not Claim("holds").judge([dl]).ok
    assert Claim.from_dict(sharp.as_dict()) == sharp
    assert Claim.from_dict({"expected": "fails", "kind": "deadlock"}) == Claim("fails", "deadlock")  # an older campaign state


def test_failure_names():
    assert names("invariant", ("invariant", "k")) == ("invariant", "invariant k")
    shape = (
        {"waits": "spin", "in": "read_hpet", "on": [["hpet.lock", {"waits": "halt", "in": "stop_this_cpu", "context": "REBOOT_VECTOR"}]]},
        {"waits": "halt", "in": "crash_nmi_callback"},
        {"after": "goal"},
    )
    assert names("deadlock", shape) == (
        "deadlock",
        "deadlock in read_hpet()",
        "deadlock on hpet.lock in read_hpet()",
        "deadlock in crash_nmi_callback()",
    )


def test_fuzz_names_the_failure_that_is_not_as_claimed(capsys, tmp_path):
    ref = f"{__name__}:TwoKeys"
    assert main(["fuzz", ref, "--variant", "either", "--max-schedules", "100", "--corpus", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["fuzz", ref, "--variant", "claims-early", "--max-schedules", "100", "--corpus", str(tmp_path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    (v,) = doc["variants"]
    assert v["claim"] == {"expected": "fails", "kind": None, "must": ["invariant early"], "must_not": []}
    assert [n["names"] for n in v["not_claimed"]] == [["invariant", "invariant late"]]
    assert main(["fuzz", ref, "--variant", "claims-early", "--max-schedules", "100", "--corpus", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "not as claimed:" in out and "(invariant late)" in out


def _model_with(**claim):
    class Bad(TwoKeys):
        name = "toy-bad-claim"
        variants = (Variant("v", "fails", "x", **claim),)

    return Bad


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        ({"must": ("deadlock on hpet.lock",)}, "variants[0].must"),
        ({"must": "invariant early"}, "variants[0].must"),
        ({"kind": "invariant", "must_not": ("livelock somewhere",)}, "variants[0].must_not"),
        ({"kind": "deadlock", "must": ("invariant early",)}, "variants[0].kind"),
    ],
)
def test_a_bad_claim_is_one_line_naming_the_field(claim, field):
    with pytest.raises(ModelLoadError) as e:
        loader.validate(_model_with(**claim))
    assert f"Bad.{field} " in str(e.value) and "\n" not in str(e.value)
