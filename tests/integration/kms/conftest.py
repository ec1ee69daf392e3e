"""Fixtures of the KMS integration tests (helpers live in ``kms_harness``)."""

from __future__ import annotations

from kms_harness import backend, make_net

__all__ = ["backend", "make_net"]
