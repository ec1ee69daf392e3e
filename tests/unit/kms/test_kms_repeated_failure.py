"""A periodic pass that keeps failing (the expiry loop during a database outage) logs its
traceback once, then one line a minute, and says when it works again."""

from __future__ import annotations

import logging

import pytest

from quaykey.kms import periodic
from quaykey.kms.periodic import RepeatedFailure


def test_a_failing_pass_logs_once_then_a_line_a_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(periodic.time, "monotonic", lambda: clock[0])
    report = RepeatedFailure("expiry pass", every_s=60.0)
    caplog.set_level(logging.INFO, logger="quaykey.kms")
    for _ in range(150):  # 150 passes one second apart: a database down for 150 s
        try:
            raise RuntimeError("database is down")
        except RuntimeError:
            report.failed()
        clock[0] += 1.0
    records = [r for r in caplog.records if r.name == "quaykey.kms"]
    assert [r.exc_info is not None for r in records] == [True, False, False]
    assert "still failing (61 passes in a row)" in records[1].getMessage()
    assert "still failing (121 passes in a row)" in records[2].getMessage()
    report.succeeded()
    assert "works again after 150 failed passes" in caplog.records[-1].getMessage()
    report.succeeded()  # a quiet pass after recovery logs nothing more
    assert len([r for r in caplog.records if r.name == "quaykey.kms"]) == 4
    assert report.failures == 0
