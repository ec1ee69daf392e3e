"""Customs decisions: release, hold by rule table, rejection with coded reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quaykey.logistics.customs import HOLD_RULES, assess, decide
from quaykey.logistics.edifact import build_cusdec, example, parse_cusres, validate
from quaykey.logistics.edifact.examples import sample_declaration

NOW = datetime(2026, 3, 2, 9, 0)


def _answer(data: bytes):  # type: ignore[no-untyped-def]
    cusres = decide(data, now=NOW)
    assert validate(cusres) == [], "customs must always answer with a valid CUSRES"
    return parse_cusres(cusres)


def _with_item(hs: str, description: str) -> bytes:
    decl = sample_declaration()
    item = replace(decl.items[0], hs_code=hs, description=description)
    return build_cusdec(replace(decl, items=(item, decl.items[1])))


def test_release() -> None:
    answer = _answer(example("CUSDEC"))
    assert answer.status == "release"
    assert answer.reasons == ()
    assert answer.declaration_reference == "DEC2026030200017"
    assert answer.issued == NOW


@pytest.mark.parametrize(
    ("hs", "code"),
    [("2846901000", "H100"), ("2805301100", "H100"), ("9301900000", "H100"),
     ("3004900000", "H110"), ("8542310000", "H110"), ("8507600000", "H110")],
)  # fmt: skip
def test_hold_by_protection_class(hs: str, code: str) -> None:
    answer = _answer(_with_item(hs, "Declared goods"))
    assert answer.status == "hold"
    assert [r.code for r in answer.reasons] == [code]
    assert answer.reasons[0].item == 1
    assert hs in answer.reasons[0].text


def test_rule_table_codes_are_distinct() -> None:
    assert len({r.code for r in HOLD_RULES}) == len(HOLD_RULES)


def test_reject_bad_container_check_digit() -> None:
    bad = example("CUSDEC").replace(b"MSKU9070323", b"MSKU9070324")
    answer = _answer(bad)
    assert answer.status == "reject"
    (reason,) = answer.reasons
    assert reason.code == "E200" and reason.tag == "EQD" and "MSKU9070324" in reason.text
    assert reason.position == 13


def test_reject_unknown_locode_and_bad_hs() -> None:
    bad = example("CUSDEC").replace(b"LOC+11+NLRTM", b"LOC+11+NLXXX")
    bad = bad.replace(b"CST+2+9403600000", b"CST+2+7799")
    answer = _answer(bad)
    assert answer.status == "reject"
    assert sorted(r.code for r in answer.reasons) == ["E210", "E220"]


def test_reject_structure_and_count() -> None:
    text = example("CUSDEC").replace(b"UNT+26+1", b"UNT+25+1")
    assert [r.code for r in _answer(text).reasons] == ["E110"]
    no_bgm = example("CUSDEC").replace(b"BGM+830+DEC2026030200017+9'", b"")
    no_bgm = no_bgm.replace(b"UNT+26+1", b"UNT+25+1")
    answer = _answer(no_bgm)
    assert answer.status == "reject"
    assert any("BGM" in r.text and r.code == "E100" for r in answer.reasons)
    assert answer.declaration_reference == "UNKNOWN"


def test_reject_implausible_mass() -> None:
    decl = sample_declaration()
    heavy = replace(decl.items[0], gross_mass_kg=Decimal(70000))
    answer = _answer(build_cusdec(replace(decl, items=(heavy,))))
    assert answer.status == "reject"
    assert [r.code for r in answer.reasons] == ["E230"]
    assert "60960" in answer.reasons[0].text  # 2 containers x 30480 kg


def test_reject_export_from_foreign_port() -> None:
    decl = replace(sample_declaration(), port_of_loading="NLRTM", port_of_discharge="CNSHA")
    status, reasons = assess(decl)
    assert status == "reject" and reasons[0].code == "E320"


def test_reject_other_message_type() -> None:
    answer = _answer(example("CODECO"))
    assert answer.status == "reject" and answer.reasons[0].code == "E310"


@pytest.mark.parametrize("junk", [b"", b"\xff\xfe\x00", b"UNB+UNOC:3+A+B+1+1'", "ÄÖÜ€".encode()])
def test_garbage_gets_a_rejection(junk: bytes) -> None:
    answer = _answer(junk)
    assert answer.status == "reject" and answer.reasons


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mutated_declarations_never_raise(data: st.DataObject) -> None:
    """Any byte edit of a valid CUSDEC yields a valid CUSRES, never an exception."""
    raw = bytearray(example("CUSDEC"))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.sampled_from(list(b"+:'?A9 \x00\xe9")))
        if action == "replace":
            raw[pos] = byte
        elif action == "delete":
            del raw[pos]
        else:
            raw.insert(pos, byte)
    answer = _answer(bytes(raw))
    assert answer.status in ("release", "hold", "reject")
