"""EDIFACT builders, parsers and the segment-order validator."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
from pydifact.segmentcollection import Interchange

from quaykey.logistics.edifact import (
    EXAMPLE_TYPES,
    InvalidInterchangeError,
    build_baplie,
    build_cusdec,
    build_cusres,
    example,
    inspect,
    parse_baplie,
    parse_cusdec,
    parse_cusres,
    validate,
)
from quaykey.logistics.edifact.examples import (
    sample_bay_plan,
    sample_container_list,
    sample_declaration,
    sample_response,
)
from quaykey.logistics.terminal import build_container_list, parse_container_list


def _pydifact_tags(data: bytes) -> tuple[str, list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interchange = Interchange.from_str(data.decode("latin-1"))
        (message,) = list(interchange.get_messages())
        return message.type, [s.tag for s in message.segments]


@pytest.mark.parametrize("message_type", EXAMPLE_TYPES)
def test_every_example_is_valid_and_read_by_pydifact(message_type: str) -> None:
    data = example(message_type)
    report = inspect(data)
    assert report.ok, report.problems
    assert report.message_type == message_type
    mtype, tags = _pydifact_tags(data)
    assert mtype == message_type
    # UNB + UNH + body + UNT + UNZ
    assert report.segment_count == len(tags) + 4


def test_round_trips_to_the_same_content() -> None:
    decl = sample_declaration()
    assert parse_cusdec(build_cusdec(decl)) == decl
    res = sample_response()
    assert parse_cusres(build_cusres(res)) == res
    plan = sample_bay_plan()
    assert parse_baplie(build_baplie(plan)) == plan
    for mtype in ("COPRAR", "COARRI", "CODECO"):
        msg = sample_container_list(mtype)
        assert parse_container_list(build_container_list(msg)) == msg


def test_round_trip_escapes_separators() -> None:
    decl = sample_declaration()
    item = replace(decl.items[0], description="Cables 3+4: 'a'? ok")
    consignee = replace(decl.consignee, name="O'Neil + Sons: B?V")
    tricky = replace(decl, items=(item,), consignee=consignee)
    data = build_cusdec(tricky)
    assert validate(data) == []
    assert parse_cusdec(data) == tricky


def test_counts_and_references_in_the_envelope() -> None:
    data = example("CUSDEC").decode("latin-1")
    segments = data.split("'")
    unt = next(s for s in segments if s.startswith("UNT"))
    unh_index = next(i for i, s in enumerate(segments) if s.startswith("UNH"))
    unt_index = segments.index(unt)
    assert unt.split("+")[1] == str(unt_index - unh_index + 1)
    unz = next(s for s in segments if s.startswith("UNZ"))
    assert unz == "UNZ+1+1"


def _mutate(data: bytes, old: str, new: str) -> bytes:
    text = data.decode("latin-1")
    assert old in text
    return text.replace(old, new, 1).encode("latin-1")


def _only(problems: list, code: str) -> list:  # type: ignore[type-arg]
    return [p for p in problems if p.code == code]


def test_missing_mandatory_segment_is_named() -> None:
    data = _mutate(example("COPRAR"), "CNT+16:2'", "")
    data = _mutate(data, "UNT+18+1", "UNT+17+1")
    problems = validate(data)
    assert [p.text for p in problems] == ["mandatory segment CNT is missing"]
    assert problems[0].code == "E100"


def test_missing_mandatory_group_is_named() -> None:
    data = _mutate(example("CUSDEC"), "UNS+S'CNT+5:2'", "UNS+S'")
    data = _mutate(data, "UNT+26+1", "UNT+25+1")
    assert validate(data) == []  # CNT is conditional in CUSDEC
    text = example("CUSDEC").decode("latin-1")
    start, end = text.index("UNS+D'") + 6, text.index("UNS+S'")
    no_items = (
        (text[:start] + text[end:]).replace("UNT+26+1", "UNT+16+1").replace("CNT+5:2", "CNT+5:0")
    )
    problems = validate(no_items.encode("latin-1"))
    assert any("mandatory group SG-CST" in p.text for p in problems)


def test_wrong_order_is_named_with_position() -> None:
    # DTM moved after the NAD parties
    text = example("CUSDEC").decode("latin-1")
    dtm = "DTM+137:202603020815:203'"
    text = text.replace(dtm, "", 1).replace("TDT+", dtm + "TDT+", 1)
    problems = validate(text.encode("latin-1"))
    assert len(problems) == 1
    assert problems[0].tag == "DTM"
    assert "out of order" in problems[0].text
    segments = text.split("'")[1:]  # UNA dropped
    assert segments[problems[0].position - 1].startswith("DTM")


def test_excess_repeats_are_named() -> None:
    one_cnt = "CNT+16:2'"
    data = _mutate(example("COPRAR"), one_cnt, one_cnt * 2)
    data = _mutate(data, "UNT+18+1", "UNT+19+1")
    problems = validate(data)
    assert any("CNT repeats more than 1" in p.text for p in problems)


def test_bad_check_digit_in_message() -> None:
    problems = validate(_mutate(example("BAPLIE"), "KKFU6671914", "KKFU6671915"))
    assert [p.code for p in problems] == ["E200"]
    assert "KKFU6671915" in problems[0].text and problems[0].tag == "EQD"


def test_unknown_locode_in_message() -> None:
    problems = validate(_mutate(example("COARRI"), "LOC+11+NLRTM", "LOC+11+NLXXX"))
    assert [p.code for p in problems] == ["E220"]
    assert "NLXXX" in problems[0].text and "LOC+11" in problems[0].text


def test_wrong_unt_count() -> None:
    problems = validate(_mutate(example("CODECO"), "UNT+12+1", "UNT+13+1"))
    assert [p.code for p in problems] == ["E110"]
    assert "UNT segment count 13 differs from the 12 segments" in problems[0].text


def test_wrong_unz_count_and_reference() -> None:
    problems = validate(_mutate(example("CODECO"), "UNZ+1+1", "UNZ+2+9"))
    texts = sorted(p.text for p in problems)
    assert texts == [
        "UNZ control reference 9 differs from UNB 1",
        "UNZ message count 2 differs from 1 messages",
    ]


def test_bad_hs_imo_and_stowage() -> None:
    assert _only(validate(_mutate(example("CUSDEC"), "CST+1+8471300000", "CST+1+7701")), "E210")
    assert _only(validate(_mutate(example("BAPLIE"), "9321483:146", "9321484:146")), "E240")
    assert _only(validate(_mutate(example("BAPLIE"), "LOC+147+0140682", "LOC+147+14A")), "E250")


def test_control_total_mismatch() -> None:
    problems = validate(_mutate(example("COPRAR"), "CNT+16:2", "CNT+16:3"))
    assert [p.code for p in problems] == ["E130"]


def test_unsupported_type_and_version() -> None:
    assert validate(_mutate(example("CODECO"), "CODECO:D:95B", "IFTMIN:D:95B"))[0].code == "E310"
    assert validate(_mutate(example("CODECO"), "CODECO:D:95B", "CODECO:D:00B"))[0].code == "E310"


@pytest.mark.parametrize("junk", [b"", b"hello", b"\x00\x01\x02", b"UNH+1+CUSDEC:D:96B:UN'"])
def test_garbage_is_reported_not_raised(junk: bytes) -> None:
    problems = validate(junk)
    assert problems and problems[0].code in ("E300", "E110")


def test_parsers_refuse_invalid_interchanges() -> None:
    bad = _mutate(example("CUSDEC"), "CSQU3054383", "CSQU3054384")
    with pytest.raises(InvalidInterchangeError, match="check digit") as info:
        parse_cusdec(bad)
    assert info.value.problems[0].code == "E200"
    with pytest.raises(ValueError, match="expected a CUSDEC message, got CUSRES"):
        parse_cusdec(example("CUSRES"))


def test_model_errors_name_the_field() -> None:
    decl = sample_declaration()
    with pytest.raises(ValueError, match="port_of_loading"):
        replace(decl, port_of_loading="XXABC")
    with pytest.raises(ValueError, match="containers"):
        replace(decl, containers=("CSQU3054383", "CSQU3054383"))
    with pytest.raises(ValueError, match="procedure"):
        replace(decl, procedure="transit")
    with pytest.raises(ValueError, match="vessel IMO number"):
        replace(decl.vessel, imo="9321484")
    with pytest.raises(ValueError, match="gross_mass_kg"):
        replace(decl.items[0], gross_mass_kg=0)


def test_cusdec_header_repeats_follow_untdid_d96b() -> None:
    """D.96B CUSDEC header: CST at most once (0030 C 1), GIS up to 25 times (0060 C 25)."""
    bgm = "BGM+830+DEC2026030200017+9'"
    one_cst = _mutate(example("CUSDEC"), bgm, bgm + "CST++A:117'")
    assert validate(_mutate(one_cst, "UNT+26+1", "UNT+27+1")) == []  # not a goods item
    two_cst = _mutate(example("CUSDEC"), bgm, bgm + "CST++A:117'CST++B:117'")
    problems = validate(_mutate(two_cst, "UNT+26+1", "UNT+28+1"))
    assert [p.code for p in problems] == ["E100"]
    assert "CST repeats more than 1" in problems[0].text
    dtm = "DTM+137:202603020815:203'"
    gis = _mutate(example("CUSDEC"), dtm, dtm + "GIS+N:127'" * 25)
    assert validate(_mutate(gis, "UNT+26+1", "UNT+51+1")) == []
    gis26 = _mutate(example("CUSDEC"), dtm, dtm + "GIS+N:127'" * 26)
    assert any("GIS repeats more than 25" in p.text
               for p in validate(_mutate(gis26, "UNT+26+1", "UNT+52+1")))  # fmt: skip


def test_cusres_header_order_follows_untdid_d96b() -> None:
    """D.96B CUSRES header: DTM (0030), FTX C 9 (0040), TDT (0050), LOC C 99 (0060), then GIS."""
    dtm, gis = "DTM+137:202603020840:203'", "GIS+HLD::ZZZ'"
    text = example("CUSRES").decode("latin-1")
    assert dtm + gis in text
    before = text.replace(dtm + gis, dtm + "FTX+AAI+++seen'" + "LOC+22+CNSHA'" * 10 + gis)
    assert validate(before.replace("UNT+9+1", "UNT+20+1").encode("latin-1")) == []
    after = text.replace(dtm + gis, dtm + gis + "FTX+AAI+++seen'")
    problems = validate(after.replace("UNT+9+1", "UNT+10+1").encode("latin-1"))
    assert [(p.code, p.tag) for p in problems] == [("E100", "FTX")]
    many = text.replace(dtm + gis, dtm + "FTX+AAI+++seen'" * 10 + gis)
    problems = validate(many.replace("UNT+9+1", "UNT+19+1").encode("latin-1"))
    assert any("FTX repeats more than 9" in p.text for p in problems)
