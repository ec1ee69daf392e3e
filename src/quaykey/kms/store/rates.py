"""The per-SAE key-rate window in the database, shared by the worker processes of one KME.

One process keeps the window in memory (:class:`~quaykey.kms.quota.RateWindow`); when
several worker processes serve one KME, each grant is also a row of ``kms_rate_grants``,
counted and written inside the delivering transaction, which holds the KME's write lock:
the quota then holds for the KME as a whole, and a delivery that rolls back takes its
grant back with it.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from quaykey.errors import KmsKeyExhaustedError
from quaykey.kms.store.tables import rate_grants_t

__all__ = ["RateGrants"]

_USED = (
    select(func.coalesce(func.sum(rate_grants_t.c.bits), 0))
    .where(rate_grants_t.c.master_sae == bindparam("master"))
    .where(rate_grants_t.c.granted_at > bindparam("since"))
)
_GRANT = insert(rate_grants_t)


class RateGrants:
    """Key-rate grants in the database (part of :class:`~quaykey.kms.store.Store`)."""

    def grant_rate(
        self, conn: Connection, master: str, bits: int, quota_bits: int, now: float, window_s: float
    ) -> None:
        """Inside the caller's write transaction: grant ``bits`` to ``master`` or raise
        :class:`KmsKeyExhaustedError` (nothing granted)."""
        used = int(conn.execute(_USED, {"master": master, "since": now - window_s}).scalar_one())
        if used + bits > quota_bits:
            raise KmsKeyExhaustedError(
                "key rate quota reached",
                [{"bits_per_minute": quota_bits, "requested_bits": bits}],
            )
        conn.execute(_GRANT, {"master_sae": master, "granted_at": now, "bits": bits})

    def expire_rate(self, conn: Connection, before: float) -> int:
        """Drop grants older than ``before``; returns how many went."""
        return int(
            conn.execute(delete(rate_grants_t).where(rate_grants_t.c.granted_at <= before)).rowcount
            or 0
        )
