"""End-to-end keys by trusted-node relay: hop-by-hop one-time pad with link keys.

To give nodes ``s`` and ``d`` a common key ``K`` over a path ``s = n0, n1, ..., nk = d``,
``s`` draws ``K``; on every hop ``(n_i, n_{i+1})`` the sender encrypts what it holds with
fresh link key ``P_i`` (one-time pad, ``C_i = K xor P_i``), authenticates ``C_i`` with a
Wegman–Carter tag paid from the same link's key, and the receiver verifies the tag and
decrypts. Each hop consumes exactly ``len(K) + AUTH_COST_BITS`` bits from the pools at both
ends of its link. All the key a relay needs is reserved before anything is spent: if any
hop cannot pay, every reservation is released and
:class:`~quaykey.errors.KeyExhaustedError` is raised with nothing consumed.

Every intermediate node sees ``K`` (that is what *trusted* relay means). Multipath relay
(:func:`relay_multipath`) splits ``K`` into XOR shares ``S_1 .. S_k`` (``k-1`` uniformly
random, the last ``K xor S_1 xor .. xor S_{k-1}``) and relays each over one of ``k``
node-disjoint paths: an intermediate node sees one share, which is uniformly distributed
and independent of ``K``.

Authentication (per hop): the project's one-time MAC, :class:`quaykey.mac.OneTimeMac`
(polynomial hash over GF(2^128) plus a one-time pad), keyed with 256 fresh bits of the
same link's key (128 of hash key, 128 of pad), over the ciphertext encoded by
:func:`quaykey.mac.bits_message`. Forgery probability is at most
:func:`quaykey.mac.forgery_bound` of the message length per hop.

References
----------
Wegman & Carter, "New hash functions and their use in authentication and set equality",
J. Comput. Syst. Sci. 22, 265 (1981). Salvail, Peev, Diamanti, Alléaume, Lütkenhaus,
Länger, "Security of trusted repeater quantum key distribution networks", J. Comput. Secur.
18, 61 (2010).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import AuthenticationError, KeyExhaustedError
from quaykey.mac import ONE_TIME_KEY_BITS, OneTimeMac, bits_message
from quaykey.network.pool import PoolSet, Reservation
from quaykey.network.topology import Topology

__all__ = [
    "AUTH_COST_BITS",
    "MultipathResult",
    "RelayResult",
    "hop_cost_bits",
    "relay_key",
    "relay_multipath",
]

#: Link-key bits one hop spends on its tag: a one-time MAC key (hash key + pad).
AUTH_COST_BITS = ONE_TIME_KEY_BITS


def hop_cost_bits(key_bits: int) -> int:
    """Link-key bits one hop consumes at each end to relay ``key_bits``."""
    return int(key_bits) + AUTH_COST_BITS


def _mac(auth_key_bits: NDArray[np.uint8]) -> OneTimeMac:
    return OneTimeMac(np.packbits(auth_key_bits).tobytes())


@dataclass(frozen=True, eq=False)
class HopRecord:
    """What crossed one hop (public: ciphertext length, tag) and what it cost."""

    link: str
    sender: str
    receiver: str
    consumed_bits: int
    ciphertext: NDArray[np.uint8] | None = field(default=None, repr=False)
    tag: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, eq=False)
class RelayResult:
    """Outcome of one relay along one path.

    ``src_key``/``dst_key`` are the keys the two end nodes hold (``None`` in statistical
    fidelity); ``seen`` maps each intermediate node to the plaintext it handled.
    """

    path: tuple[str, ...]
    key_bits: int
    hops: tuple[HopRecord, ...]
    src_key: NDArray[np.uint8] | None = field(default=None, repr=False)
    dst_key: NDArray[np.uint8] | None = field(default=None, repr=False)
    seen: dict[str, NDArray[np.uint8]] = field(default_factory=dict, repr=False)

    @property
    def trusted_nodes(self) -> tuple[str, ...]:
        """Nodes other than the ends that held the key in the clear (empty for one hop).

        A hop over an ``entangled`` link is one hop between its two ground stations: the
        satellite that distributed the pairs is not on the path and never sees the key.
        """
        return tuple(self.path[1:-1])

    @property
    def consumed_bits_per_hop(self) -> int:
        """Bits consumed at each end of each hop."""
        return hop_cost_bits(self.key_bits)


@dataclass(frozen=True, eq=False)
class MultipathResult:
    """Outcome of a multipath relay: one :class:`RelayResult` per share."""

    paths: tuple[tuple[str, ...], ...]
    key_bits: int
    shares: tuple[RelayResult, ...]
    src_key: NDArray[np.uint8] | None = field(default=None, repr=False)
    dst_key: NDArray[np.uint8] | None = field(default=None, repr=False)


def _check_path(topology: Topology, path: Sequence[str]) -> list[str]:
    if len(path) < 2:
        raise ValueError("a relay path needs at least two nodes")
    if len(set(path)) != len(path):
        raise ValueError(f"relay path {list(path)} visits a node twice")
    for node in path[1:-1]:
        if not topology.node(node).relays:
            raise ValueError(f"node {node!r} on the path is a user node and does not relay")
    return [topology.link_between(u, v).name for u, v in itertools.pairwise(path)]


def _reserve_all(
    pools: PoolSet, items: Sequence[tuple[str, str, int]]
) -> list[tuple[str, str, Reservation]]:
    done: list[tuple[str, str, Reservation]] = []
    try:
        for link, node, n in items:
            done.append((link, node, pools.pool(link, node).reserve(n)))
    except Exception as exc:
        for link, node, res in done:
            pools.pool(link, node).release(res)
        if isinstance(exc, KeyExhaustedError):
            raise KeyExhaustedError(f"relay cannot be paid: {exc}") from None
        raise
    return done


def _hop_items(path: Sequence[str], links: Sequence[str], cost: int) -> list[tuple[str, str, int]]:
    items = []
    for (u, v), link in zip(itertools.pairwise(path), links, strict=True):
        items.append((link, u, cost))
        items.append((link, v, cost))
    return items


def _run_hops(
    pools: PoolSet,
    path: Sequence[str],
    links: Sequence[str],
    reservations: dict[tuple[str, str], Reservation],
    key: NDArray[np.uint8] | None,
    key_bits: int,
) -> RelayResult:
    cost = hop_cost_bits(key_bits)
    hops: list[HopRecord] = []
    held = key
    seen: dict[str, NDArray[np.uint8]] = {}
    for i, ((u, v), link) in enumerate(zip(itertools.pairwise(path), links, strict=True)):
        send = pools.pool(link, u).commit(reservations[(link, u)])
        recv = pools.pool(link, v).commit(reservations[(link, v)])
        if send is None or recv is None or held is None:
            hops.append(HopRecord(link, u, v, cost))
            continue
        ct = held ^ send[:key_bits]
        tag = _mac(send[key_bits:]).tag(bits_message(ct))
        # --- the ciphertext and tag cross the public channel; v checks with its own key ---
        try:
            _mac(recv[key_bits:]).verify(bits_message(ct), tag, f"hop {u}->{v} ({link})")
        except AuthenticationError:
            # The key spent on this hop is gone; give back what later hops reserved.
            for (x, y), later in zip(
                list(itertools.pairwise(path))[i + 1 :], links[i + 1 :], strict=True
            ):
                pools.pool(later, x).release(reservations[(later, x)])
                pools.pool(later, y).release(reservations[(later, y)])
            raise
        held = ct ^ recv[:key_bits]
        if v != path[-1]:
            seen[v] = held.copy()
        hops.append(HopRecord(link, u, v, cost, ciphertext=ct, tag=tag))
    return RelayResult(
        path=tuple(path),
        key_bits=key_bits,
        hops=tuple(hops),
        src_key=key,
        dst_key=held,
        seen=seen,
    )


def relay_key(
    topology: Topology,
    pools: PoolSet,
    path: Sequence[str],
    key_bits: int,
    rng: np.random.Generator | None = None,
    key: NDArray[np.uint8] | None = None,
) -> RelayResult:
    """Relay a fresh ``key_bits``-bit key from ``path[0]`` to ``path[-1]``.

    Parameters
    ----------
    topology
        The network (to check the path and find the links).
    pools
        Pools of every link; materialised pools relay real bits.
    path
        Node names from source to destination; intermediate nodes must relay.
    key_bits
        Length of the end-to-end key.
    rng
        Source of the key bits (a seeded Generator in simulations).
    key
        Relay this key instead of drawing one (used by multipath shares).

    Returns
    -------
    RelayResult

    Raises
    ------
    KeyExhaustedError
        A hop cannot pay ``key_bits + AUTH_COST_BITS``; nothing is consumed.
    AuthenticationError
        A hop's tag does not verify (the two ends' link keys differ).
    ValueError
        A malformed path or a non-positive ``key_bits``.

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": n, "lat_deg": 0, "lon_deg": i / 10}
    ...     for i, n in enumerate("abc")], "links": [{"a": "a", "b": "b"}, {"a": "b", "b": "c"}]})
    >>> ps = PoolSet(materialised=True)
    >>> for link in t.links:
    ...     ps.add_link(link.name, link.a, link.b)
    ...     k = np.random.default_rng(0).integers(0, 2, 1000, dtype=np.uint8)
    ...     ps.deposit(link.name, alice_bits=k, bob_bits=k.copy())
    >>> r = relay_key(t, ps, ["a", "b", "c"], 256, np.random.default_rng(1))
    >>> bool(np.array_equal(r.src_key, r.dst_key)), ps.level("a--b")  # 1000 - (256 + 256)
    (True, 488)
    """
    if int(key_bits) <= 0:
        raise ValueError(f"key_bits must be > 0, got {key_bits!r}")
    key_bits = int(key_bits)
    links = _check_path(topology, path)
    reserved = _reserve_all(pools, _hop_items(path, links, hop_cost_bits(key_bits)))
    by_end = {(link, node): res for link, node, res in reserved}
    if pools.materialised and key is None:
        key = (rng or np.random.default_rng()).integers(0, 2, key_bits, dtype=np.uint8)
    return _run_hops(pools, path, links, by_end, key if pools.materialised else None, key_bits)


def relay_multipath(
    topology: Topology,
    pools: PoolSet,
    paths: Sequence[Sequence[str]],
    key_bits: int,
    rng: np.random.Generator | None = None,
) -> MultipathResult:
    """Relay a key as XOR shares over node-disjoint paths (all reserved first).

    Raises
    ------
    ValueError
        Paths that do not share their end points or are not node-disjoint.
    KeyExhaustedError
        Any hop of any path cannot pay; nothing is consumed.

    References
    ----------
    Salvail et al., J. Comput. Secur. 18, 61 (2010), Sec. 3 (multipath with XOR shares).
    """
    if not paths:
        raise ValueError("give at least one path")
    src, dst = paths[0][0], paths[0][-1]
    inner: set[str] = set()
    for p in paths:
        if p[0] != src or p[-1] != dst:
            raise ValueError("every path must run between the same two nodes")
        mid = set(p[1:-1])
        if inner & mid:
            raise ValueError("multipath shares need node-disjoint paths")
        inner |= mid
    if int(key_bits) <= 0:
        raise ValueError(f"key_bits must be > 0, got {key_bits!r}")
    key_bits = int(key_bits)
    links_per_path = [_check_path(topology, p) for p in paths]
    items = [
        it
        for p, links in zip(paths, links_per_path, strict=True)
        for it in _hop_items(p, links, hop_cost_bits(key_bits))
    ]
    reserved = _reserve_all(pools, items)
    by_end = {(link, node): res for link, node, res in reserved}
    key: NDArray[np.uint8] | None = None
    shares: list[NDArray[np.uint8] | None] = [None] * len(paths)
    if pools.materialised:
        gen = rng or np.random.default_rng()
        key = gen.integers(0, 2, key_bits, dtype=np.uint8)
        last = key.copy()
        for i in range(len(paths) - 1):
            s = gen.integers(0, 2, key_bits, dtype=np.uint8)
            shares[i] = s
            last ^= s
        shares[-1] = last
    results = tuple(
        _run_hops(pools, p, links, by_end, share, key_bits)
        for p, links, share in zip(paths, links_per_path, shares, strict=True)
    )
    dst_key: NDArray[np.uint8] | None = None
    if pools.materialised:
        dst_key = np.zeros(key_bits, dtype=np.uint8)
        for r in results:
            assert r.dst_key is not None
            dst_key ^= r.dst_key
    return MultipathResult(
        paths=tuple(tuple(p) for p in paths),
        key_bits=key_bits,
        shares=results,
        src_key=key,
        dst_key=dst_key,
    )
