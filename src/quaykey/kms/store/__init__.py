"""Durable KME state (SQLAlchemy Core): the database, sealing, the audit chain, keys.

SQLite (WAL, ``synchronous=FULL``, ``secure_delete``, ``BEGIN IMMEDIATE``) is the embedded
default; PostgreSQL is used when the URL says ``postgresql+psycopg://``. Every key byte is
sealed with AES-256-GCM under the KME master key, which lives in a file outside the
database; the associated data binds each ciphertext to its row, so rows cannot be swapped.

Modules: :mod:`.sealing` (master key file, AES-GCM), :mod:`.tables` (the schema),
:mod:`.audit` (hash-chained audit records), :mod:`.keys` (link key material and held keys),
:mod:`.database` (:class:`Store`: engine, transactions), :mod:`.commit` (the group commit's
writer thread).
"""

from __future__ import annotations

from quaykey.errors import MasterKeyError
from quaykey.kms.store.audit import GENESIS_HASH, AuditRecord, verify_audit_chain
from quaykey.kms.store.database import Store
from quaykey.kms.store.sealing import Sealer, create_master_key, read_master_key
from quaykey.kms.store.tables import (
    audit_t,
    keys_t,
    link_blocks_t,
    link_used_t,
    metadata,
    stock_t,
)

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "MasterKeyError",
    "Sealer",
    "Store",
    "audit_t",
    "create_master_key",
    "keys_t",
    "link_blocks_t",
    "link_used_t",
    "metadata",
    "read_master_key",
    "stock_t",
    "verify_audit_chain",
]
