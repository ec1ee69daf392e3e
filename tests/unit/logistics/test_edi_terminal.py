"""Terminal messages (BAPLIE, COPRAR, COARRI, CODECO) and a round-trip property test."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import iso6346

from quaykey.logistics.edifact import (
    BayPlan,
    Declaration,
    GoodsItem,
    Party,
    Reason,
    Response,
    Slot,
    Vessel,
    build_baplie,
    build_cusdec,
    build_cusres,
    parse_baplie,
    parse_cusdec,
    parse_cusres,
    validate,
)
from quaykey.logistics.edifact.examples import sample_container_list
from quaykey.logistics.terminal import (
    ContainerList,
    ContainerMove,
    build_container_list,
    parse_container_list,
    validate_terminal_message,
)


@pytest.mark.parametrize(
    ("mtype", "kind", "code"),
    [("COPRAR", "discharge", "43"), ("COARRI", "discharge", "44"), ("CODECO", "gate-out", "36")],
)
def test_kinds_round_trip(mtype: str, kind: str, code: str) -> None:
    msg = replace(sample_container_list(mtype), kind=kind)
    data = build_container_list(msg)
    assert f"BGM+{code}+".encode() in data
    assert validate_terminal_message(data) == []
    assert parse_container_list(data) == msg


def test_wrong_kind_for_type() -> None:
    with pytest.raises(ValueError, match="kind 'gate-in' not allowed for message_type 'COPRAR'"):
        replace(sample_container_list("COPRAR"), kind="gate-in")


def test_coprar_needs_a_container() -> None:
    with pytest.raises(ValueError, match="at least one container"):
        replace(sample_container_list("COPRAR"), moves=())
    text = build_container_list(sample_container_list("COPRAR")).decode("latin-1")
    start, end = text.index("EQD+"), text.index("CNT+")
    empty = text[:start] + text[end:]
    empty = empty.replace("UNT+18+1", "UNT+9+1").replace("CNT+16:2", "CNT+16:0")
    assert [p.text for p in validate(empty.encode("latin-1"))] == [
        "mandatory group SG3 (starting with EQD) is missing"
    ]


def test_vessel_required_for_coprar() -> None:
    with pytest.raises(ValueError, match="vessel is required for COPRAR"):
        replace(sample_container_list("COPRAR"), vessel=None)


def test_terminal_validation_names_problem() -> None:
    data = build_container_list(sample_container_list("COARRI"))
    broken = data.replace(b"LOC+147+0140682::5'", b"")
    broken = broken.replace(b"UNT+20+1", b"UNT+19+1")
    assert validate_terminal_message(broken) == []  # stowage is conditional in COARRI
    no_nad = data.replace(b"NAD+CA+QKL:172:20'", b"").replace(b"UNT+20+1", b"UNT+19+1")
    (problem,) = validate_terminal_message(no_nad)
    assert "mandatory group SG2 (starting with NAD) is missing" in problem


def test_cusres_is_not_a_terminal_message() -> None:
    from quaykey.logistics.edifact import example

    assert validate_terminal_message(example("CUSRES")) == ["CUSRES is not a terminal message"]


def test_bay_plan_rejects_duplicate_cells() -> None:
    from quaykey.logistics.edifact.examples import sample_bay_plan

    plan = sample_bay_plan()
    clash = replace(plan.slots[1], stowage=plan.slots[0].stowage)
    with pytest.raises(ValueError, match="each stowage may appear once"):
        replace(plan, slots=(plan.slots[0], clash))


# ---- property: every builder's output validates and parses back to its input ----

_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .-+:'?/&é", min_size=1,
                max_size=35).map(str.strip).filter(bool)  # fmt: skip
_CODE = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=10)
_PORTS = st.sampled_from(["CNSHA", "CNNGB", "CNTSN", "NLRTM", "USLAX", "SGSIN", "DEHAM"])
_WHEN = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
_MASS = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(30000), places=1)


@st.composite
def _containers(draw: st.DrawFn) -> str:
    owner = draw(st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3))
    serial = draw(st.text(alphabet=string.digits, min_size=6, max_size=6))
    body = owner + "U" + serial
    return body + iso6346.calc_check_digit(body)


_IMO = st.sampled_from(["9074729", "9321483", "9786035", "9811220"])
_VESSEL = st.builds(Vessel, imo=_IMO, name=_TEXT, voyage=_CODE, carrier=_CODE)
_PARTY = st.builds(Party, identifier=_CODE, name=_TEXT, country=st.sampled_from(["CN", "NL"]))
_HS = st.sampled_from(["8471300000", "2846", "300490", "85", "9403600000", "030389"])
_ITEM = st.builds(
    GoodsItem, hs_code=_HS, description=_TEXT, origin_country=st.sampled_from(["CN", "DE"]),
    packages=st.integers(1, 10_000), package_type=st.sampled_from(["CT", "PK", "BX"]),
    gross_mass_kg=_MASS,
)  # fmt: skip
_DECL = st.builds(
    Declaration, reference=_CODE, procedure=st.sampled_from(["import", "export"]), issued=_WHEN,
    customs_office=_PORTS, declarant=_PARTY, consignor=_PARTY, consignee=_PARTY,
    vessel=_VESSEL, port_of_loading=_PORTS, port_of_discharge=_PORTS,
    containers=st.lists(_containers(), min_size=1, max_size=4, unique=True).map(tuple),
    items=st.lists(_ITEM, min_size=1, max_size=4).map(tuple),
)  # fmt: skip
_REASON = st.builds(
    Reason, code=st.sampled_from(["E200", "H100", "E100"]),
    text=st.text(alphabet=string.ascii_letters + " +:'?", min_size=1, max_size=200)
    .map(str.strip).filter(bool),
    tag=st.sampled_from([None, "EQD", "CST"]), position=st.one_of(st.none(), st.integers(1, 999)),
    item=st.one_of(st.none(), st.integers(1, 99)),
)  # fmt: skip
_RESPONSE = st.builds(
    Response, reference=_CODE, declaration_reference=_CODE, status=st.just("hold"),
    issued=_WHEN, reasons=st.lists(_REASON, min_size=1, max_size=5).map(tuple),
)  # fmt: skip


@st.composite
def _bay_plans(draw: st.DrawFn) -> BayPlan:
    containers = draw(st.lists(_containers(), min_size=0, max_size=5, unique=True))
    cells = draw(st.lists(st.integers(0, 9_999_999), min_size=len(containers),
                          max_size=len(containers), unique=True))  # fmt: skip
    slots = tuple(
        Slot(f"{cell:07d}", c, draw(st.sampled_from(["22G1", "45G1", "45R1"])), draw(st.booleans()),
             draw(_MASS), draw(_PORTS), draw(_PORTS), draw(_CODE))
        for cell, c in zip(cells, containers, strict=True)
    )  # fmt: skip
    return BayPlan(draw(_CODE), draw(_WHEN), draw(_VESSEL), draw(_PORTS), draw(_PORTS),
                   draw(_WHEN), slots)  # fmt: skip


@st.composite
def _container_lists(draw: st.DrawFn) -> ContainerList:
    mtype = draw(st.sampled_from(["COPRAR", "COARRI", "CODECO"]))
    kinds = ["gate-in", "gate-out"] if mtype == "CODECO" else ["load", "discharge"]
    min_moves = 1 if mtype == "COPRAR" else 0
    containers = draw(st.lists(_containers(), min_size=min_moves, max_size=4, unique=True))
    moves = tuple(
        ContainerMove(
            c, draw(st.sampled_from(["22G1", "45G1"])), draw(st.booleans()), draw(_MASS),
            draw(st.one_of(st.none(), _PORTS)), draw(st.one_of(st.none(), _PORTS)),
            draw(st.one_of(st.none(), st.integers(0, 9_999_999).map(lambda n: f"{n:07d}"))),
            draw(st.one_of(st.none(), _CODE)), draw(st.one_of(st.none(), _CODE)),
        )
        for c in containers
    )  # fmt: skip
    vessel = None if mtype == "CODECO" and draw(st.booleans()) else draw(_VESSEL)
    return ContainerList(mtype, draw(st.sampled_from(kinds)), draw(_CODE), draw(_WHEN),
                         draw(st.sampled_from(["YSH", "WGQ", "NGB"])), draw(_CODE), vessel,
                         moves)  # fmt: skip


_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_DECL)
def test_cusdec_property_round_trip(decl: Declaration) -> None:
    data = build_cusdec(decl)
    assert validate(data) == []
    assert parse_cusdec(data) == decl


@_SETTINGS
@given(_RESPONSE)
def test_cusres_property_round_trip(response: Response) -> None:
    data = build_cusres(response)
    assert validate(data) == []
    assert parse_cusres(data) == response


@_SETTINGS
@given(_bay_plans())
def test_baplie_property_round_trip(plan: BayPlan) -> None:
    data = build_baplie(plan)
    assert validate(data) == []
    assert parse_baplie(data) == plan


@_SETTINGS
@given(_container_lists())
def test_container_list_property_round_trip(msg: ContainerList) -> None:
    data = build_container_list(msg)
    assert validate(data) == []
    assert parse_container_list(data) == msg
