"""SecureChannel: protected messages between two SAEs with keys from their KMEs.

The sender is the ETSI GS QKD 014 *master*: it calls *Get key* on its own KME naming the
peer as slave and puts the key IDs in the envelope. The receiver is the *slave*: it calls
*Get key with key IDs* on its own KME naming the sender as master. A channel object does
both directions for one peer.

Receiving checks, in order: envelope syntax, addressing (sender and receiver SAE IDs),
clock skew, the policy of the message type (no downgrade), replay (sequence number
accepted before, or key IDs used before), reordering (sequence number below the highest
accepted), the keys at the KME, and the tag. Every refusal raises
:class:`~quaykey.errors.MessageRejectedError` and is counted under
``rejected.<reason>``; nothing of a refused envelope is delivered.

Durability. ``otp`` and ``hybrid`` messages consume their own keys, and the receiver
commits each one (key IDs used, sequence accepted) before delivering it. ``aes`` is
cheaper without being weaker:

* the sender takes sequence numbers from blocks reserved in the store
  (:meth:`ChannelStore.next_seq`: one commit per block, and after a restart it continues
  above the committed mark), and the AES-GCM nonce is derived from the sequence number
  (:func:`~quaykey.logistics.sdk.protect.aes_nonce`), so no (key, nonce) pair repeats,
  crash or not; the receiver refuses an ``aes`` nonce that is not its sequence number's;
* the receiver commits the key IDs of each ``aes`` key when it first uses it, together
  with that message's sequence number; the later messages under the key are accepted in
  memory (the set of sequence numbers of the current key, and the highest one, which the
  next commit or :meth:`ChannelStore.close` writes). An ``aes`` key lives only in
  memory, so after a restart every message under a key used before is refused as
  ``replayed`` (its key IDs are committed): replays of pre-restart messages stay
  refused. What a crash (not a clean close) can lose is the order mark reached under the
  last key: an ``otp`` or ``hybrid`` message sent in that window and never delivered,
  arriving after the restart, is accepted (once: its key IDs are consumed) instead of
  being refused as ``reordered``.

Request and reply. ``send(..., reply_bytes=n)`` on an ``otp`` or ``hybrid`` request
draws the answer's keys in the same *Get key* and lists their IDs in the authenticated
header; the receiver fetches them with the request's keys in one *Get key with key IDs*.
``send(..., reply_to=request)`` protects the answer with them when they suffice (else with
fresh keys). Each key is used once and recorded at both ends; both copies are kept sealed
(at most :data:`~quaykey.logistics.sdk.store.MAX_REPLY_KEYS` per peer). Two KME calls per
exchange instead of four.

``otp`` never falls back to a weaker class: when the KME is short of key (or silent) the
message waits in a bounded SQLite queue (:meth:`SecureChannel.flush_queue` sends it when
key is back) and a full queue refuses with :class:`OtpQueueFullError`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from quaykey.errors import (
    AuthenticationError,
    KeyShortageError,
    KmeClientError,
    MessageQueuedError,
    MessageRejectedError,
    OtpQueueFullError,
)
from quaykey.logistics.sdk.envelope import PROTECTION_CLASSES, Envelope, decode_envelope
from quaykey.logistics.sdk.keysource import KmeKeySource
from quaykey.logistics.sdk.policy import Policy
from quaykey.logistics.sdk.protect import (
    AES_KEY_BYTES,
    NONCE_BYTES,
    aes_nonce,
    aes_open,
    aes_seal,
    derive_hybrid_key,
    hybrid_context,
    otp_key_bytes,
    otp_open,
    otp_seal,
)
from quaykey.logistics.sdk.session import ReceivedMessage, Session
from quaykey.logistics.sdk.store import ChannelStore, QueueReport
from quaykey.mac import TAG_BYTES

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.mlkem import (
        MLKEM768PrivateKey,
        MLKEM768PublicKey,
    )

    from quaykey.kms.client import KmeClient

__all__ = ["ReceivedMessage", "SecureChannel"]

log = logging.getLogger("quaykey.logistics.sdk")


class SecureChannel:
    """Send and receive protected messages to and from one peer SAE.

    Parameters
    ----------
    kme : KmeClient
        Client of this SAE's own KME (its certificate is this SAE's identity).
    peer : str
        The peer's SAE ID.
    policy : Policy, optional
        Protection policy (default :meth:`Policy.standard`).
    state : ChannelStore or path-like
        Persistent state (sequence numbers, used key IDs, otp queue); ``":memory:"`` only
        for experiments, since replay protection must survive restarts.
    sae_id : str, optional
        This SAE's ID; by default read from the KME's *Get status* (``master_SAE_ID``).
    mlkem_key : MLKEM768PrivateKey, optional
        This SAE's ML-KEM-768 decapsulation key (to receive ``hybrid``).
    peer_mlkem_public : MLKEM768PublicKey, optional
        The peer's ML-KEM-768 encapsulation key (to send ``hybrid``).
    key_source : KmeKeySource, optional
        Where key bytes come from (default: ``KmeKeySource(kme)``).
    clock : callable, optional
        Returns Unix seconds (default :func:`time.time`).

    Examples
    --------
    With two SAEs ``terminal-sh`` and ``customs-sh`` at running KMEs (``docs/apps.md``)::

        tx = SecureChannel(kme_terminal, "customs-sh", state="terminal.db")
        rx = SecureChannel(kme_customs, "terminal-sh", state="customs.db")
        env = tx.send("customs_decision", b"RELEASE MSCU1234566", hs_codes=["2846"])
        assert rx.receive(env) == b"RELEASE MSCU1234566"
    """

    def __init__(
        self,
        kme: KmeClient,
        peer: str,
        policy: Policy | None = None,
        *,
        state: ChannelStore | str | Path,
        sae_id: str | None = None,
        mlkem_key: MLKEM768PrivateKey | None = None,
        peer_mlkem_public: MLKEM768PublicKey | None = None,
        key_source: KmeKeySource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(peer, str) or not peer:
            raise ValueError("peer must be a non-empty SAE ID")
        self._kme = kme
        self.peer = peer
        self.policy = policy or Policy.standard()
        self.store = state if isinstance(state, ChannelStore) else ChannelStore(state)
        self._sae_id = sae_id
        self._mlkem_key = mlkem_key
        self._peer_mlkem_public = peer_mlkem_public
        self.keys = key_source or KmeKeySource(kme)
        self._clock = clock
        self._lock = threading.RLock()
        self._out: Session | None = None
        self._in: Session | None = None
        self._pending_reply: tuple[tuple[str, ...], bytes] | None = None
        self._pending_used: tuple[str, ...] = ()
        self.counters: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"SecureChannel({self._sae_id or '?'!r} <-> {self.peer!r}, store={self.store!r})"

    @property
    def sae_id(self) -> str:
        """This SAE's ID (from *Get status* unless given)."""
        if self._sae_id is None:
            self._sae_id = self._kme.status(self.peer).master_SAE_ID
        return self._sae_id

    # ------------------------------------------------------------------ sending

    def send(
        self,
        msg_type: str,
        payload: bytes,
        hs_codes: Iterable[str] = (),
        *,
        protection: str | None = None,
        reply_bytes: int = 0,
        reply_to: ReceivedMessage | None = None,
    ) -> bytes:
        """Protect ``payload`` and return the envelope bytes to transmit.

        The class is the policy's for ``msg_type`` and ``hs_codes``; ``protection`` may
        only ask for a stronger one. ``reply_bytes``: draw key for the peer's answer too
        (``otp``/``hybrid`` only); ``reply_to``: the request this answers, whose reply
        keys protect it when they suffice (see the module docstring).

        Raises
        ------
        ValueError
            Bad arguments, or ``protection`` weaker than the policy's class.
        MessageQueuedError
            ``otp`` message stored in the queue (key short, or older messages waiting).
        OtpQueueFullError
            ``otp`` message refused: the queue is full.
        KeyShortageError
            ``aes``/``hybrid`` message not sent: the KME has no key.
        """
        if not isinstance(payload, bytes | bytearray):
            raise ValueError("payload must be bytes")
        cls = self.policy.classify(msg_type, hs_codes)
        if protection is not None:
            if protection not in PROTECTION_CLASSES:
                raise ValueError(f"protection must be one of {PROTECTION_CLASSES}")
            if PROTECTION_CLASSES.index(protection) < PROTECTION_CLASSES.index(cls):
                raise ValueError(f"protection {protection!r} is weaker than the policy's {cls!r}")
            cls = protection
        if reply_bytes and (cls == "aes" or reply_bytes < 0):
            raise ValueError("reply_bytes must be >= 0, and only otp or hybrid requests draw it")
        if reply_to is not None and reply_to.sender != self.peer:
            raise ValueError(f"reply_to is a message from {reply_to.sender!r}, not {self.peer!r}")
        with self._lock:
            if cls != "otp":
                return self._send_now(cls, msg_type, bytes(payload), reply_bytes, reply_to)
            if self.store.queued(self.peer):
                self._reply_keys(reply_to, 0)  # not used: the answer waits behind older ones
                self._enqueue(msg_type, bytes(payload), "older otp messages are waiting")
            try:
                return self._send_now("otp", msg_type, bytes(payload), reply_bytes, reply_to)
            except KeyShortageError as exc:
                self._enqueue(msg_type, bytes(payload), str(exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _enqueue(self, msg_type: str, payload: bytes, why: str) -> None:
        cap = self.policy.otp_queue_max
        qid = self.store.enqueue(self.peer, msg_type, payload, capacity=cap)
        if qid is None:
            self.counters["otp_queue_refused"] += 1
            log.warning(
                "otp queue full (%d messages): refused a %s message to %s", cap, msg_type, self.peer
            )
            raise OtpQueueFullError(
                f"otp queue full ({cap} messages waiting for key);"
                f" {msg_type!r} to {self.peer!r} refused"
            )
        self.counters["otp_queued"] += 1
        log.info("otp message %d (%s) to %s queued: %s", qid, msg_type, self.peer, why)
        raise MessageQueuedError(qid, self.peer, why)

    def _take(
        self, n_bytes: int, reply_bytes: int = 0
    ) -> tuple[tuple[str, ...], bytes, tuple[str, ...]]:
        """Fresh key for a message (and its answer's keys): (IDs, bytes, reply key IDs)."""
        try:
            if not reply_bytes:
                ids, key = self.keys.take_many(self.peer, n_bytes)
                self.store.mark_keys_used(self.peer, ids, side="out")
                return ids, key, ()
            (ids, key), (rids, rkey) = self.keys.take_parts(self.peer, (n_bytes, reply_bytes))
        except KmeClientError as exc:
            if exc.status_code == 503:
                raise KeyShortageError(f"KME has no key for {self.peer!r}: {exc}") from None
            raise
        except httpx.TransportError as exc:  # no answer in time: fail closed, as when short
            raise KeyShortageError(
                f"KME did not answer a Get key for {self.peer!r} ({type(exc).__name__})"
            ) from None
        ref = ",".join(rids).lower()
        self.store.mark_keys_used(self.peer, ids, side="out", reply=("await", ref, rids, rkey))
        return ids, key[:n_bytes], rids

    def _reply_keys(
        self, reply_to: ReceivedMessage | None, n_bytes: int
    ) -> tuple[tuple[str, ...], bytes] | None:
        """The answer keys of ``reply_to`` (taken and marked used), if they hold ``n_bytes``."""
        if reply_to is None:
            return None
        got = self.store.take_reply_keys(self.peer, "answer", str(reply_to.seq), side="out")
        if got is None or len(got[1]) < max(n_bytes, 1):
            self.counters["reply_keys_unused"] += got is not None
            return None
        self.counters["reply_keys_used"] += 1
        return got[0], got[1][:n_bytes]

    def _aes_out_key(self, seq: int) -> tuple[tuple[str, ...], bytes]:
        s, now = self._out, self._clock()
        pol = self.policy
        if s is None or s.uses >= pol.rekey_messages or now - s.created >= pol.rekey_seconds:
            ids, key, _ = self._take(AES_KEY_BYTES)
            s = self._out = Session(ids, key, 0, now)
            log.info("aes key towards %s rolled (key ID %s)", self.peer, ids[0])
        if seq <= s.last_seq:  # the nonce is the sequence number: it must only grow
            raise RuntimeError(f"sequence number {seq} not above {s.last_seq} under one aes key")
        s.uses += 1
        s.last_seq = seq
        return s.key_ids, s.key

    def _send_now(
        self,
        cls: str,
        msg_type: str,
        payload: bytes,
        reply_bytes: int = 0,
        reply_to: ReceivedMessage | None = None,
    ) -> bytes:
        nonce, kem_ct, kem_ss = b"", b"", b""
        rids: tuple[str, ...] = ()
        if cls == "hybrid" and self._peer_mlkem_public is None:
            raise ValueError("peer_mlkem_public is required to send hybrid messages")
        seq = self.store.next_seq(self.peer)
        if cls == "aes":
            self._reply_keys(reply_to, 0)  # an aes answer has its session key: discarded
            ids, key = self._aes_out_key(seq)
            nonce = aes_nonce(seq)
        else:
            need = otp_key_bytes(len(payload)) if cls == "otp" else AES_KEY_BYTES
            got = self._reply_keys(reply_to, need)
            ids, key, rids = (*got, ()) if got else self._take(need, reply_bytes)
        if cls == "hybrid":
            assert self._peer_mlkem_public is not None
            kem_ss, kem_ct = self._peer_mlkem_public.encapsulate()
            nonce = secrets.token_bytes(NONCE_BYTES)
        env = Envelope(
            cls, msg_type, self.sae_id, self.peer, seq,
            int(self._clock() * 1000), ids, nonce, kem_ct, b"", rids,
        )  # fmt: skip
        prefix = env.authenticated_prefix
        if cls == "otp":
            body = otp_seal(key, prefix, payload)
        else:
            if cls == "hybrid":
                assert self._peer_mlkem_public is not None
                pk = self._peer_mlkem_public.public_bytes_raw()
                ctx = hybrid_context(env.sender, env.receiver, ids, kem_ct, pk)
                key = derive_hybrid_key(key, kem_ss, ctx)
            body = aes_seal(key, nonce, prefix, payload)
        self.counters[f"sent.{cls}"] += 1
        log.debug(
            "sent %s %s seq=%d to %s with %d key ID(s)", cls, msg_type, env.seq, self.peer, len(ids)
        )
        return env.authenticated_prefix + body

    def flush_queue(self) -> list[tuple[int, bytes]]:
        """Send waiting ``otp`` messages to this peer, oldest first, while key lasts.

        Returns
        -------
        list of (queue_id, envelope bytes)
            The messages now protected and ready to transmit; those still short of key
            stay queued (in order).
        """
        out: list[tuple[int, bytes]] = []
        with self._lock:
            for msg in self.store.queued(self.peer):
                try:
                    env = self._send_now("otp", msg.msg_type, msg.payload)
                except KeyShortageError:
                    break
                self.store.dequeue(msg.queue_id)
                out.append((msg.queue_id, env))
        if out:
            log.info("sent %d queued otp message(s) to %s", len(out), self.peer)
        return out

    def queue_report(self) -> QueueReport:
        """Messages waiting (all peers of this store), per peer, and the oldest one's age."""
        return self.store.queue_report(self.policy.otp_queue_max, now=self._clock())

    # ---------------------------------------------------------------- receiving

    def receive(self, envelope: bytes) -> bytes:
        """Verify and decrypt an envelope from the peer; returns the payload.

        Raises
        ------
        MessageRejectedError
            The envelope is refused; ``reason`` says why (see the module docstring).
        """
        return self.receive_message(envelope).payload

    def _reject(self, reason: str, detail: str) -> MessageRejectedError:
        self.counters[f"rejected.{reason}"] += 1
        log.warning("rejected envelope from %s: %s (%s)", self.peer, reason, detail)
        return MessageRejectedError(reason, detail)

    def _check_header(self, env: Envelope) -> None:
        if env.receiver != self.sae_id or env.sender != self.peer:
            raise self._reject("misaddressed", f"{env.sender!r}->{env.receiver!r}")
        skew_s = abs(self._clock() - env.ts_ms / 1000)
        if skew_s > self.policy.max_clock_skew_s:
            raise self._reject("clock_skew", f"timestamp {skew_s:.1f} s from our clock")
        need = self.policy.for_type(env.msg_type)
        if PROTECTION_CLASSES.index(env.protection) < PROTECTION_CLASSES.index(need):
            raise self._reject(
                "policy_downgrade", f"{env.msg_type!r} needs {need}, got {env.protection}"
            )
        in_session = self._in is not None and env.key_ids == self._in.key_ids
        if (in_session and self._in is not None and env.seq in self._in.seqs) or (
            self.store.was_accepted(self.peer, env.seq)
        ):
            raise self._reject("replayed", f"sequence {env.seq} already accepted")
        if env.protection == "aes" and in_session:
            assert self._in is not None
            if self._in.uses >= self.policy.rekey_messages:
                raise self._reject("key_rejected", "aes key used for more messages than allowed")
        elif self.store.keys_used(env.key_ids + env.reply_key_ids):
            raise self._reject("replayed", "key IDs used before")
        if env.seq <= self.store.last_seq_in(self.peer):
            raise self._reject("reordered", f"sequence {env.seq} below the last accepted")

    def _lookup(self, env: Envelope, n_bytes: int) -> bytes:
        if not env.reply_key_ids:  # an answer to our request opens with our copy of its keys
            ref = ",".join(env.key_ids).lower()
            mine = self.store.take_reply_keys(self.peer, "await", ref, side="in")
            if mine is not None:
                if len(mine[1]) < n_bytes:
                    raise self._reject("authentication", "answer longer than its reply keys")
                return mine[1][:n_bytes]
        parts: list[tuple[tuple[str, ...], int | None]] = [(env.key_ids, n_bytes)]
        if env.reply_key_ids:
            parts.append((env.reply_key_ids, None))
        ids = env.key_ids + env.reply_key_ids
        try:
            key, *reply = self.keys.lookup_parts(self.peer, parts)
        except KmeClientError as exc:
            raise self._reject("key_rejected", str(exc)) from None
        except httpx.TransportError as exc:
            raise self._reject("key_rejected", f"KME no answer ({type(exc).__name__})") from None
        except ValueError as exc:  # the KME delivered (and deleted) keys of another length
            self.store.mark_keys_used(self.peer, ids, side="in")
            raise self._reject("authentication", f"length altered: {exc}") from None
        self._pending_used = ids  # recorded with the acceptance, or at once on a refusal
        self._pending_reply = (env.reply_key_ids, reply[0]) if reply else None
        return key

    def _open(self, env: Envelope) -> bytes:
        prefix = env.authenticated_prefix
        if env.protection == "otp":
            return otp_open(
                self._lookup(env, otp_key_bytes(max(0, len(env.body) - TAG_BYTES))),
                prefix,
                env.body,
            )
        if env.protection == "aes":
            if not hmac.compare_digest(env.nonce, aes_nonce(env.seq)):
                raise AuthenticationError("aes message: nonce is not its sequence number's")
            if self._in is None or env.key_ids != self._in.key_ids:
                self._in = Session(env.key_ids, self._lookup(env, AES_KEY_BYTES), 0, self._clock())
            return aes_open(self._in.key, env.nonce, prefix, env.body)
        if self._mlkem_key is None:
            raise self._reject("key_rejected", "no ML-KEM-768 key configured for hybrid")
        qkd = self._lookup(env, AES_KEY_BYTES)
        try:
            kem_ss = self._mlkem_key.decapsulate(env.kem_ct)
        except ValueError:
            raise AuthenticationError("hybrid message: malformed ML-KEM ciphertext") from None
        pk = self._mlkem_key.public_key().public_bytes_raw()
        ctx = hybrid_context(env.sender, env.receiver, env.key_ids, env.kem_ct, pk)
        return aes_open(derive_hybrid_key(qkd, kem_ss, ctx), env.nonce, prefix, env.body)

    def _accept_aes(self, seq: int, s: Session) -> None:
        """Accept an ``aes`` message: committed for a key's first, in memory after."""
        # the key's first message is committed (its key IDs were at lookup); the others
        # raise the order mark in memory, committed by the next durable accept or close()
        used, self._pending_used = self._pending_used, ()
        self.store.accept(self.peer, seq, durable=s.uses == 0, used=used)
        s.uses += 1
        s.seqs.add(seq)
        s.last_seq = max(s.last_seq, seq)

    def receive_message(self, envelope: bytes) -> ReceivedMessage:
        """Like :meth:`receive`, returning the payload with its type, class and sequence."""
        with self._lock:
            self._pending_reply, self._pending_used = None, ()
            try:
                env = decode_envelope(bytes(envelope))
            except ValueError as exc:
                raise self._reject("malformed", str(exc)) from None
            if env.reply_key_ids and env.protection == "aes":
                raise self._reject("malformed", "an aes message carries no reply keys")
            self._check_header(env)
            try:
                payload = self._open(env)
            except AuthenticationError as exc:
                if self._pending_used:  # fetched (so deleted) at the KME: used, whatever came
                    self.store.mark_keys_used(self.peer, self._pending_used, side="in")
                if isinstance(exc, MessageRejectedError):
                    raise
                raise self._reject("authentication", str(exc)) from None
            if env.protection == "aes" and self._in is not None:
                self._accept_aes(env.seq, self._in)
            else:  # an accepted request's reply keys are kept with its acceptance
                reply, self._pending_reply = self._pending_reply, None
                used, self._pending_used = self._pending_used, ()
                self.store.accept(
                    self.peer, env.seq, reply=reply if env.reply_key_ids else None, used=used
                )
            self.counters[f"received.{env.protection}"] += 1
            return ReceivedMessage(
                env.msg_type, payload, env.protection, env.sender, env.seq, env.ts_ms
            )
