"""Link keys from the network layer's QKD links into the KMEs (the end of the data path).

In ``exact`` fidelity :class:`quaykey.network.sim.NetworkSimulation` hands each end's
copy of every block of post-processed key to a sink,
``key_sink(link, node, peer, block_id, key_bytes)`` (:data:`quaykey.network.sim.KeySink`).
:func:`link_key_sink` builds that sink for a set of KMEs: the copy for ``node`` goes to the
KME of ``node`` through :meth:`KmeService.deposit_link_key(peer, block_id, key_bytes)
<quaykey.kms.service.KmeService.deposit_link_key>`. Each KME receives only the bytes its
own end's party produced; the feed never copies one end's key to the other.

The network layer never imports the KMS; this module (above both) is where they meet.
``quaykey network simulate --fidelity exact --kme-config FILE`` builds one
``KmeService.from_settings`` per KME of a KMS network file on the KMEs' own databases and
feeds them through :func:`link_key_sink`, so the command alone fills running KMEs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quaykey.kms.service import KmeService

__all__ = ["MIN_BLOCK_BYTES", "FeedCounters", "KmeFeed", "LinkEnd", "link_key_sink"]

log = logging.getLogger("quaykey.kms.feed")

#: Shortest block a KME accepts (:meth:`KmeService.deposit_link_key` refuses shorter ones).
MIN_BLOCK_BYTES = 2

LinkEnd = tuple[str, str]
"""``(link, node)``: one end of a QKD link, e.g. ``("hefei--chaohu", "hefei")``."""


@dataclass(frozen=True)
class FeedCounters:
    """What a :class:`KmeFeed` has handed to KMEs so far (counts only, no key material).

    Attributes
    ----------
    deposited_blocks, deposited_bytes
        Per link end ``(link, node)``: blocks and bytes stored in the KME of ``node``.
    skipped_blocks, skipped_bytes
        Per link end: blocks and bytes not stored, because ``node`` or its ``peer`` has
        no KME in the feed's mapping, or the block is shorter than :data:`MIN_BLOCK_BYTES`.
    """

    deposited_blocks: Mapping[LinkEnd, int]
    deposited_bytes: Mapping[LinkEnd, int]
    skipped_blocks: Mapping[LinkEnd, int]
    skipped_bytes: Mapping[LinkEnd, int]

    @property
    def total_deposited_blocks(self) -> int:
        """Blocks deposited, summed over all link ends."""
        return sum(self.deposited_blocks.values())

    @property
    def total_deposited_bytes(self) -> int:
        """Bytes deposited, summed over all link ends."""
        return sum(self.deposited_bytes.values())

    @property
    def total_skipped_blocks(self) -> int:
        """Blocks skipped, summed over all link ends."""
        return sum(self.skipped_blocks.values())


class KmeFeed:
    """A :data:`~quaykey.network.sim.KeySink` that deposits link keys into KMEs.

    Build it with :func:`link_key_sink`. Calling it with
    ``(link, node, peer, block_id, key_bytes)`` stores ``key_bytes`` in the KME of
    ``node`` as link key material shared with ``peer``. :attr:`counters` reports what was
    deposited and skipped per link end.
    """

    def __init__(self, services: Mapping[str, KmeService]) -> None:
        self._services = dict(services)
        self._lock = threading.Lock()
        self._blocks: dict[LinkEnd, int] = {}
        self._bytes: dict[LinkEnd, int] = {}
        self._skipped_blocks: dict[LinkEnd, int] = {}
        self._skipped_bytes: dict[LinkEnd, int] = {}

    def __repr__(self) -> str:
        return f"KmeFeed(nodes={sorted(self._services)!r})"

    def __call__(self, link: str, node: str, peer: str, block_id: str, key_bytes: bytes) -> None:
        """Deposit one end's copy of one block (see :func:`link_key_sink`)."""
        end = (link, node)
        n = len(key_bytes)
        service = self._services.get(node)
        reason: str | None = None
        if service is None:
            reason = f"no KME at {node}"
        elif peer not in self._services:
            reason = f"no KME at the other end, {peer}"
        elif n < MIN_BLOCK_BYTES:
            reason = "block too short"
        if reason is not None or service is None:
            log.info(
                "link key block %s (%d bytes) for %s on link %s skipped: %s",
                block_id,
                n,
                node,
                link,
                reason,
            )
            with self._lock:
                self._skipped_blocks[end] = self._skipped_blocks.get(end, 0) + 1
                self._skipped_bytes[end] = self._skipped_bytes.get(end, 0) + n
            return
        service.deposit_link_key(peer, block_id, key_bytes)
        log.debug("link key block %s (%d bytes) deposited at %s (peer %s)", block_id, n, node, peer)
        with self._lock:
            self._blocks[end] = self._blocks.get(end, 0) + 1
            self._bytes[end] = self._bytes.get(end, 0) + n

    @property
    def counters(self) -> FeedCounters:
        """A snapshot of the counters (later deposits do not change it)."""
        with self._lock:
            return FeedCounters(
                deposited_blocks=MappingProxyType(dict(self._blocks)),
                deposited_bytes=MappingProxyType(dict(self._bytes)),
                skipped_blocks=MappingProxyType(dict(self._skipped_blocks)),
                skipped_bytes=MappingProxyType(dict(self._skipped_bytes)),
            )


def link_key_sink(services: Mapping[str, KmeService]) -> KmeFeed:
    """A network ``key_sink`` that deposits each end's link key into that node's KME.

    Parameters
    ----------
    services : Mapping[str, KmeService]
        Node name -> the :class:`~quaykey.kms.service.KmeService` of that node's KME
        (``ThreadedKme(...).service``, ``app.state.service`` or
        ``KmeService.from_settings(settings)``). Node names are the topology's; each
        KME's configuration must list the topology's links at that node as ``links``.

    Returns
    -------
    KmeFeed
        A callable ``sink(link, node, peer, block_id, key_bytes)``, a
        :data:`quaykey.network.sim.KeySink` for
        ``NetworkSimulation(..., key_sink=sink)``. For each call it runs
        ``services[node].deposit_link_key(peer, block_id, key_bytes)``. Skipped, counted
        in ``sink.counters`` and logged at INFO on ``quaykey.kms.feed`` by block ID and
        length (never the key bytes): an end whose ``node`` has no entry in ``services``
        (a user node without a KME, say), an end whose ``peer`` has none (a link key is
        only usable when both ends have a KME; the KMS configuration cannot list such a
        link), and a block shorter than :data:`MIN_BLOCK_BYTES`.

    Raises
    ------
    ValueError
        Raised *by the sink*, from ``deposit_link_key``: ``peer`` is not a neighbour of
        ``node`` in the KMS configuration (the topology has a link the KMS config lacks),
        or the ``block_id`` was already deposited at that KME. The simulation stops
        there; the other end of that block may already hold its copy, which stays unused.
    quaykey.errors.KmsError
        Raised by the sink when a KME's store cannot be written.

    Notes
    -----
    The network calls the sink for end ``a`` and then end ``b`` of each block, each time
    with that end's own party's key under the same ``block_id``; the feed passes each copy
    only to its own node's KME. The network's pools keep their own copy of the same bits:
    when the KMEs relay keys, do not also spend the pools' copy (give the simulation no
    ``demands``).

    Example
    -------
    >>> from quaykey.network.sim import NetworkSimulation, SimulationConfig
    >>> sink = link_key_sink({"a": kme_a.service, "b": kme_b.service})  # doctest: +SKIP
    >>> cfg = SimulationConfig(duration_s=600, fidelity="exact", block_duration_s=300,
    ...                        demands=())  # doctest: +SKIP
    >>> NetworkSimulation(topology, cfg, key_sink=sink).run()  # doctest: +SKIP
    >>> sink.counters.deposited_blocks[("a--b", "a")]  # doctest: +SKIP
    2
    """
    return KmeFeed(services)
