"""What every part of a KME shares: its settings, store and peers, and who may do what.

:class:`KmeCore` holds the state and the access checks. A refused attempt is audited
(``access_denied`` with the caller named by its certificate, the reason, never keys) and
answered 401.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, NoReturn

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import KmsBadRequestError, KmsUnauthorizedError
from quaykey.kms.config import KmeSettings
from quaykey.kms.pki import Identity, caller_label
from quaykey.kms.quota import RateWindow
from quaykey.kms.relay import PeerTransport
from quaykey.kms.store import Store

__all__ = ["KmeCore", "valid_uuid"]

log = logging.getLogger("quaykey.kms")


def valid_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID in the canonical hyphenated form, in either case.

    Examples
    --------
    >>> valid_uuid("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"), valid_uuid("6ba7b8109dad11d1")
    (True, False)
    """
    try:
        return str(uuid.UUID(text)) == text.lower()
    except (ValueError, AttributeError, TypeError):
        return False


class KmeCore:
    """Settings, store, peer transport and access checks of one KME.

    Parameters
    ----------
    settings : KmeSettings
        Resolved settings of this node.
    store : Store
        Durable state.
    transport : PeerTransport or None
        Clients towards peer KMEs (``None``: this KME cannot relay).
    """

    def __init__(
        self, settings: KmeSettings, store: Store, transport: PeerTransport | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self.rate = RateWindow()

    @property
    def node(self) -> str:
        """This KME's node name."""
        return self.settings.node

    def _me_low(self, peer: str) -> bool:
        return self.node < peer

    def _grant_shared(self, conn: Connection, master: str, bits: int) -> None:
        """Inside a delivering transaction: with several worker processes, count ``bits``
        against the master's key-rate quota in the database (the in-memory window of one
        process sees only its own grants)."""
        if self.settings.workers > 1:
            quota = self.settings.quota(master).bits_per_minute
            self.store.grant_rate(conn, master, bits, quota, time.time(), self.rate.window_s)

    def _audit_only(self, ev: str, **detail: Any) -> None:
        try:

            def _tx(conn: Connection) -> Any:
                self.store.audit(conn, ev, **detail)

            self.store.transact(_tx)
        except SQLAlchemyError:
            log.error("audit write failed for event %s", ev)

    async def _audit_only_async(self, ev: str, **detail: Any) -> None:
        """:meth:`_audit_only` for a coroutine (awaits the group commit)."""
        try:

            def _tx(conn: Connection) -> Any:
                self.store.audit(conn, ev, **detail)

            await self.store.transact_async(_tx)
        except SQLAlchemyError:
            log.error("audit write failed for event %s", ev)

    def _deny(
        self, caller: str, reason: str, message: str = "unauthorized", **detail: Any
    ) -> NoReturn:
        """Audit a refused attempt (who, why; never keys) and raise the 401."""
        self._audit_only("access_denied", caller=caller, reason=reason, **detail)
        raise KmsUnauthorizedError(message)

    def _caller_sae(self, who: Identity | None) -> str:
        if who is None or who.kind != "sae":
            self._deny(caller_label(who), "not an SAE certificate on the SAE API")
        entry = self.settings.saes.get(who.name)
        if entry is None or entry.node != self.node:
            self._deny(caller_label(who), "SAE not registered at this KME")
        return who.name

    def _check_slave(self, master: str, slave: str) -> None:
        if slave not in self.settings.saes:
            raise KmsBadRequestError("unknown slave SAE ID", [{"slave_SAE_ID": slave[:128]}])
        if slave == master:
            raise KmsBadRequestError("slave SAE ID must differ from the calling SAE")
        if not self.settings.may_pair(master, slave):
            self._deny(
                f"sae:{master}",
                "SAE pair not provisioned",
                "SAE pair not provisioned to share keys",
                other_SAE_ID=slave,
            )

    def _caller_kme(self, who: Identity | None) -> str:
        if who is None or who.kind != "kme" or who.name not in self.settings.neighbours:
            self._deny(caller_label(who), "not a neighbour KME certificate on the relay API")
        return who.name
