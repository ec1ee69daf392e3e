"""One structured log line per event for ``quaykey up`` (JSON with ``--log-json``).

Fields come from the record's ``extra`` (``event``, ``link``, ``t_sim``...). Key material is
never logged: callers pass counts and IDs only, and :class:`JsonFormatter` drops any field
whose name says it holds key bytes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["JsonFormatter", "TextFormatter", "setup_logging"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
NOISY = (
    "uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpcore", "quaykey.kms",
    "quaykey.logistics", "sse_starlette", "amqtt", "pydifact",
)  # fmt: skip
_NEVER = ("key_bytes", "keys", "alice_key", "bob_key", "key")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _NEVER}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(_fields(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {extra}" if extra else line
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return line


def setup_logging(level: str = "info", json_lines: bool = False) -> None:
    """Log to stderr, one line per event, at ``level``; the libraries' chatter at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
