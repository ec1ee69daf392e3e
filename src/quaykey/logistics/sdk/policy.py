"""Which protection class a message gets: by message type and by cargo (HS codes).

The rule is "strongest wins": the class named for the message type, the classes named for
any of the cargo's Harmonized System codes (longest matching prefix: chapter, heading or
subheading) and the default are compared and the strongest (``aes`` < ``hybrid`` < ``otp``)
is used. The receiver applies the same policy to the message type and refuses an envelope
protected more weakly than its policy asks (no silent downgrade).

The default policy follows the key budget of the logistics reference note (one-time pad
only for low-volume, high-value traffic): customs decisions, bill-of-lading title
transfers and strategic cargo (HS 30 pharmaceuticals, 2805/2846 rare-earth metals and
compounds, 85 electrical and electronic equipment) get ``otp``; bulk EDI, events and
telemetry get ``aes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from quaykey.logistics.sdk.envelope import PROTECTION_CLASSES

__all__ = ["DEFAULT_POLICY", "Policy", "stronger"]

DEFAULT_POLICY: dict[str, Any] = {
    "default": "aes",
    "message_types": {
        "customs_decision": "otp",
        "customs_declaration": "hybrid",
        "ebl_transfer": "otp",
        "ebl_surrender": "otp",
        "edi": "aes",
        "event": "aes",
        "telemetry": "aes",
    },
    "hs_codes": {"30": "otp", "2805": "otp", "2846": "otp", "85": "otp"},
    "rekey_messages": 1000,
    "rekey_seconds": 60.0,
    "max_clock_skew_s": 30.0,
    "otp_queue_max": 1000,
}
_HS = re.compile(r"^\d{2,10}$")


def stronger(a: str, b: str) -> str:
    """The stronger of two protection classes.

    Examples
    --------
    >>> stronger("aes", "otp"), stronger("hybrid", "aes")
    ('otp', 'hybrid')
    """
    return a if PROTECTION_CLASSES.index(a) >= PROTECTION_CLASSES.index(b) else b


def _hs_digits(code: str) -> str:
    digits = str(code).replace(".", "").replace(" ", "")
    if not _HS.match(digits):
        raise ValueError(f"hs_codes: {code!r} is not an HS code (2 to 10 digits)")
    return digits


def _check_class(value: Any, where: str) -> str:
    if value not in PROTECTION_CLASSES:
        raise ValueError(f"{where}: protection class must be one of {PROTECTION_CLASSES}")
    return str(value)


@dataclass(frozen=True)
class Policy:
    """Protection policy, rekey limits, clock skew and queue bound.

    Parameters
    ----------
    default : str
        Class for messages no rule names.
    message_types : mapping
        Message type -> class.
    hs_codes : mapping
        HS code prefix (2, 4 or 6+ digits, dots allowed) -> class.
    rekey_messages, rekey_seconds
        ``aes`` keys are replaced after this many messages or this age.
    max_clock_skew_s
        Receivers refuse envelopes whose timestamp is further than this from their clock.
    otp_queue_max
        Most ``otp`` messages waiting for key; more are refused.

    Examples
    --------
    >>> p = Policy.standard()
    >>> p.classify("edi"), p.classify("edi", hs_codes=["8542.31"]), p.classify("customs_decision")
    ('aes', 'otp', 'otp')
    >>> p.classify("telemetry", hs_codes=["0901"])
    'aes'
    """

    default: str = "aes"
    message_types: Mapping[str, str] = field(default_factory=dict)
    hs_codes: Mapping[str, str] = field(default_factory=dict)
    rekey_messages: int = 1000
    rekey_seconds: float = 60.0
    max_clock_skew_s: float = 30.0
    otp_queue_max: int = 1000

    def __post_init__(self) -> None:
        _check_class(self.default, "default")
        for name, cls in self.message_types.items():
            _check_class(cls, f"message_types.{name}")
        hs = {
            _hs_digits(code): _check_class(c, f"hs_codes.{code}")
            for code, c in self.hs_codes.items()
        }
        object.__setattr__(self, "hs_codes", hs)
        if self.rekey_messages < 1 or self.rekey_seconds <= 0:
            raise ValueError("rekey_messages must be >= 1 and rekey_seconds > 0")
        if self.max_clock_skew_s <= 0 or self.otp_queue_max < 0:
            raise ValueError("max_clock_skew_s must be > 0 and otp_queue_max >= 0")

    @classmethod
    def standard(cls) -> Policy:
        """The policy described in the module docstring."""
        return cls.from_dict(DEFAULT_POLICY)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Policy:
        """Build from a mapping with the field names of this class (unknown keys refused).

        Fields left out take the class defaults, which name no message type and no HS
        code; start from :data:`DEFAULT_POLICY` to change only some of the standard rules.
        """
        unknown = set(doc) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"policy: unknown field(s) {sorted(unknown)}")
        kw: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in doc.items()}
        return cls(**kw)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Policy:
        """Read a YAML policy (a path, or the YAML text itself).

        Examples
        --------
        >>> Policy.from_yaml("default: aes\\nhs_codes: {'2846': otp}").classify("edi", ["284690"])
        'otp'
        """
        path = Path(text_or_path) if isinstance(text_or_path, Path) else None
        if path is None and "\n" not in str(text_or_path) and Path(str(text_or_path)).is_file():
            path = Path(str(text_or_path))
        text = path.read_text(encoding="utf-8") if path is not None else str(text_or_path)
        doc = yaml.safe_load(text)
        if not isinstance(doc, Mapping):
            raise ValueError("policy: YAML must be a mapping")
        return cls.from_dict(doc)

    def for_type(self, msg_type: str) -> str:
        """Class the message type alone asks for."""
        return stronger(self.default, self.message_types.get(msg_type, self.default))

    def classify(self, msg_type: str, hs_codes: Iterable[str] = ()) -> str:
        """Class for a message of ``msg_type`` carrying cargo of ``hs_codes``."""
        if not isinstance(msg_type, str) or not msg_type:
            raise ValueError("msg_type must be a non-empty string")
        if isinstance(hs_codes, str):
            raise ValueError("hs_codes must be a list of codes, not one string")
        out = self.for_type(msg_type)
        for code in hs_codes:
            digits = _hs_digits(code)
            match = max((p for p in self.hs_codes if digits.startswith(p)), key=len, default=None)
            if match is not None:
                out = stronger(out, self.hs_codes[match])
        return out
