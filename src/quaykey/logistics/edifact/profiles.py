"""Segment tables of the six message types, as used by quaykey.

Each table lists, in directory order, the segments and groups of the message type that
this profile uses, with the directory's status (M/C) and maximum repeats:

* CUSDEC and CUSRES: UNTDID D.96B (UN/EDIFACT Customs declaration / Customs response
  messages; the header positions, statuses and repeats checked against the D.96B segment
  tables). Our profile keeps the header, party, transport, equipment, goods-item and
  error-point groups; conditional segments we never send are left out, so a partner's
  message that uses them is reported as "not allowed here" rather than silently accepted.
* BAPLIE: UNTDID D.95B as profiled by the SMDG *BAPLIE 2.2* Message Implementation Guide.
* COPRAR, COARRI, CODECO: UNTDID D.95B container messages as profiled by the SMDG MIGs
  (COPRAR/COARRI 2.x, CODECO 2.x).

Group names are ours where our profile drops groups of the directory; each names the
segments it holds.

Examples
--------
>>> sorted(SPECS)
['BAPLIE', 'COARRI', 'CODECO', 'COPRAR', 'CUSDEC', 'CUSRES']
>>> SPECS["CUSDEC"].release
'96B'
"""

from __future__ import annotations

from quaykey.logistics.edifact.structure import Group, MessageSpec, Seg

__all__ = ["SPECS"]

_D96B = "UNTDID D.96B"
_SMDG = "UNTDID D.95B, SMDG MIG"

CUSDEC = MessageSpec(
    "CUSDEC",
    "D",
    "96B",
    (
        # UNTDID D.96B CUSDEC header, positions 0020-0060: BGM M1, CST C1, LOC C99, DTM C15,
        # GIS C25 (the directory's statuses and repeats, checked against D.96B)
        Seg("BGM", True, 1),
        Seg("CST", False, 1),
        Seg("LOC", False, 99),
        Seg("DTM", False, 15),
        Seg("GIS", False, 25),
        Group("SG-RFF", False, 99, (Seg("RFF", True, 1), Seg("DTM", False, 1))),
        Group(
            "SG-NAD",
            False,
            99,
            (Seg("NAD", True, 1), Seg("CTA", False, 5), Seg("COM", False, 5)),
        ),
        Group(
            "SG-TDT",
            False,
            99,
            (Seg("TDT", True, 1), Seg("DTM", False, 1), Seg("LOC", False, 9)),
        ),
        Group("SG-EQD", False, 9999, (Seg("EQD", True, 1), Seg("SEL", False, 9))),
        Seg("UNS", True, 1),
        Group(
            "SG-CST",
            True,
            9999,
            (
                Seg("CST", True, 1),
                Seg("FTX", False, 9),
                Seg("LOC", False, 9),
                Seg("MEA", False, 9),
                Seg("PAC", False, 9),
                Group("SG-ITEM-RFF", False, 99, (Seg("RFF", True, 1), Seg("DTM", False, 1))),
            ),
        ),
        Seg("UNS", True, 1),
        Seg("CNT", False, 9),
    ),
    _D96B,
)

CUSRES = MessageSpec(
    "CUSRES",
    "D",
    "96B",
    (
        # UNTDID D.96B CUSRES header, positions 0020-0060: BGM M1, DTM C9, FTX C9, TDT C9,
        # LOC C99; GIS comes after them (its repeat count is our profile's)
        Seg("BGM", True, 1),
        Seg("DTM", False, 9),
        Seg("FTX", False, 9),
        Seg("TDT", False, 9),
        Seg("LOC", False, 99),
        Seg("GIS", False, 10),
        Group("SG-RFF", False, 99, (Seg("RFF", True, 1), Seg("DTM", False, 1))),
        Group("SG-NAD", False, 9, (Seg("NAD", True, 1),)),
        Group(
            "SG-ERP",
            False,
            999,
            (
                Seg("ERP", True, 1),
                Seg("RFF", False, 9),
                Seg("ERC", True, 1),
                Seg("FTX", False, 1),
            ),
        ),
    ),
    _D96B,
)

BAPLIE = MessageSpec(
    "BAPLIE",
    "D",
    "95B",
    (
        Seg("BGM", True, 1),
        Seg("DTM", True, 1),
        Seg("RFF", False, 1),
        Seg("NAD", False, 1),
        Group(
            "SG1",
            True,
            1,
            (
                Seg("TDT", True, 1),
                Seg("LOC", True, 2),
                Seg("DTM", True, 99),
                Seg("RFF", False, 1),
                Seg("FTX", False, 1),
            ),
        ),
        Group(
            "SG2",
            False,
            9999,
            (
                Seg("LOC", True, 1),
                Seg("GID", False, 1),
                Seg("GDS", False, 9),
                Seg("FTX", False, 9),
                Seg("MEA", True, 9),
                Seg("DIM", False, 9),
                Seg("TMP", False, 1),
                Seg("RNG", False, 1),
                Seg("LOC", False, 9),
                Seg("RFF", True, 9),
                Group(
                    "SG3",
                    False,
                    3,
                    (Seg("EQD", True, 1), Seg("EQA", False, 9), Seg("NAD", False, 1)),
                ),
                Group("SG4", False, 999, (Seg("DGS", True, 1), Seg("FTX", False, 1))),
            ),
        ),
    ),
    _SMDG + " BAPLIE 2.2",
)


def _container_group(name: str, with_stowage_extras: bool, mandatory: bool = False) -> Group:
    extras: tuple[Seg | Group, ...] = (
        (Seg("TMP", False, 9), Seg("RNG", False, 9)) if with_stowage_extras else ()
    )
    return Group(
        name,
        mandatory,
        9999,
        (
            Seg("EQD", True, 1),
            Seg("RFF", False, 9),
            Seg("TMD", False, 9),
            Seg("DTM", False, 9),
            Seg("LOC", False, 9),
            Seg("MEA", False, 9),
            Seg("DIM", False, 9),
            *extras,
            Seg("SEL", False, 9),
            Seg("FTX", False, 9),
            Seg("DGS", False, 9),
            Seg("EQA", False, 9),
            Group(
                "SG-ONCARRIAGE",
                False,
                1,
                (
                    Seg("TDT", True, 1),
                    Seg("RFF", False, 9),
                    Seg("LOC", False, 9),
                    Seg("DTM", False, 9),
                ),
            ),
            Seg("NAD", False, 1),
        ),
    )


def _vessel_list(message_type: str, mig: str) -> MessageSpec:
    return MessageSpec(
        message_type,
        "D",
        "95B",
        (
            Seg("BGM", True, 1),
            Seg("FTX", False, 9),
            Seg("RFF", True, 9),
            Group(
                "SG1",
                True,
                1,
                (
                    Seg("TDT", True, 1),
                    Seg("RFF", False, 9),
                    Seg("LOC", False, 9),
                    Seg("DTM", False, 9),
                    Seg("FTX", False, 9),
                ),
            ),
            Group("SG2", True, 9, (Seg("NAD", True, 1), Seg("CTA", False, 9))),
            # D.95B COPRAR: SG3 is M 9999 (an order names at least one container)
            _container_group("SG3", with_stowage_extras=True, mandatory=message_type == "COPRAR"),
            Seg("CNT", True, 1),
        ),
        f"{_SMDG} {mig}",
    )


COPRAR = _vessel_list("COPRAR", "COPRAR 2.x")
COARRI = _vessel_list("COARRI", "COARRI 2.x")

CODECO = MessageSpec(
    "CODECO",
    "D",
    "95B",
    (
        Seg("BGM", True, 1),
        Seg("FTX", False, 9),
        Seg("RFF", False, 9),
        Group(
            "SG1",
            False,
            1,
            (Seg("TDT", True, 1), Seg("LOC", False, 9), Seg("DTM", False, 9)),
        ),
        Group("SG2", True, 9, (Seg("NAD", True, 1), Seg("CTA", False, 9))),
        _container_group("SG5", with_stowage_extras=False),
        Seg("CNT", True, 1),
    ),
    _SMDG + " CODECO 2.x",
)

SPECS: dict[str, MessageSpec] = {
    s.message_type: s for s in (CUSDEC, CUSRES, BAPLIE, COPRAR, COARRI, CODECO)
}
