"""Identifiers against published test vectors (logistics reference note § 2.5)."""

from __future__ import annotations

import pytest

from quaykey.logistics import identifiers as ids

VALID_CONTAINERS = [
    "CSQU3054383",
    "MSCU1234566",
    "APZU4812090",
    "KKFU6671914",
    "MSKU9070323",
    "NARU3472484",
]
INVALID_CONTAINERS = ["CSQU3054384", "HLXU1234567", "CONU1234567"]


@pytest.mark.parametrize("number", VALID_CONTAINERS)
def test_valid_container_numbers(number: str) -> None:
    assert ids.container_number(number) == number
    spaced = f"{number[:4].lower()} {number[4:10]}-{number[10]}"
    assert ids.container_number(spaced) == number


@pytest.mark.parametrize("number", INVALID_CONTAINERS)
def test_bad_check_digit_is_named(number: str) -> None:
    with pytest.raises(ValueError, match="check digit should be"):
        ids.container_number(number, field="containers[0]")
    with pytest.raises(ValueError, match=r"^containers\[0\]"):
        ids.container_number(number, field="containers[0]")


@pytest.mark.parametrize("bad", ["CSQ3054383", "CSQX3054383", "CSQU305438", ""])
def test_malformed_container_numbers(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 6346"):
        ids.container_number(bad)


def test_every_single_digit_change_is_caught() -> None:
    # ISO 6346's weights 2^i mod 11 are all non-zero: any single substitution is detected
    base = "CSQU3054383"
    for pos in range(4, 10):
        for digit in "0123456789":
            if digit == base[pos]:
                continue
            with pytest.raises(ValueError):
                ids.container_number(base[:pos] + digit + base[pos + 1 :])


@pytest.mark.parametrize("number", ["9074729", "IMO 9321483", "9786035"])
def test_valid_imo(number: str) -> None:
    assert ids.imo_number(number) == number.replace("IMO ", "")


@pytest.mark.parametrize("number", ["9074728", "9321484"])
def test_imo_check_digit(number: str) -> None:
    with pytest.raises(ValueError, match="check digit"):
        ids.imo_number(number)


@pytest.mark.parametrize("bad", ["907472", "90747290", "ABCDEFG"])
def test_imo_format(bad: str) -> None:
    with pytest.raises(ValueError, match="seven digits"):
        ids.imo_number(bad)


def test_imo_check_digit_by_hand() -> None:
    # IMO Resolution A.1117(30): digits 9 0 7 4 7 2 weighted 7..2 sum to 139, check digit 9
    digits = [9, 0, 7, 4, 7, 2]
    total = sum(d * w for d, w in zip(digits, range(7, 1, -1), strict=True))
    assert str(total % 10) == "9074729"[-1]


@pytest.mark.parametrize("code", ["CNSHA", "CNNGB", "CNTSN", "CNBJS", "NLRTM", "USLAX"])
def test_curated_locodes(code: str) -> None:
    assert ids.locode(code.lower()).locode == code
    assert code in ids.known_locodes()


def test_port_function() -> None:
    assert ids.locode("CNSHA").is_port
    assert not ids.locode("CNBJS").is_port


@pytest.mark.parametrize(
    ("bad", "why"), [("CNXXX", "curated"), ("CN1", "2-letter"), ("C$SHA", "2-letter")]
)
def test_bad_locodes(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        ids.locode(bad, field="port_of_loading")
    with pytest.raises(ValueError, match=r"^port_of_loading"):
        ids.locode(bad, field="port_of_loading")


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("30", "30"),
        ("2846", "2846"),
        ("8542.31", "854231"),
        ("8542 31 00", "85423100"),
        ("8471300000", "8471300000"),
    ],
)
def test_hs_codes(code: str, digits: str) -> None:
    assert ids.hs_code(code) == digits


@pytest.mark.parametrize("bad", ["7701", "9801", "00", "123", "12345", "84713000001", "85a2"])
def test_bad_hs_codes(bad: str) -> None:
    with pytest.raises(ValueError, match="HS code"):
        ids.hs_code(bad)


@pytest.mark.parametrize(
    ("code", "klass"),
    [("2805300000", "strategic"), ("284690", "strategic"), ("930190", "strategic"),
     ("300490", "controlled"), ("854231", "controlled"), ("847130", "standard"),
     ("850760", "controlled"), ("280430", "standard")],
)  # fmt: skip
def test_hs_protection_class(code: str, klass: str) -> None:
    entry = ids.hs_info(code)
    assert entry is not None and entry.protection_class == klass


def test_hs_unknown_chapter_has_no_entry() -> None:
    assert ids.hs_info("0101") is None


@pytest.mark.parametrize("code", ["22G1", "45G1", "45R1", "L5G1", "22U1"])
def test_size_type(code: str) -> None:
    assert ids.size_type(code.lower()) == code


@pytest.mark.parametrize("bad", ["4G1", "45G12", "0aG1", "45-1"])
def test_bad_size_type(bad: str) -> None:
    with pytest.raises(ValueError, match="size/type"):
        ids.size_type(bad)


def test_terminals() -> None:
    assert ids.terminal("wgq")[0] == "CNSHA"
    assert ids.terminal("NGB")[0] == "CNNGB"
    with pytest.raises(ValueError, match="unknown terminal"):
        ids.terminal("XXX")


def test_type_errors_name_the_field() -> None:
    with pytest.raises(TypeError, match="container number must be a string"):
        ids.container_number(1234)  # type: ignore[arg-type]
