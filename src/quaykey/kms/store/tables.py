"""The KME database schema (SQLAlchemy Core tables)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "audit_head_t",
    "audit_t",
    "keys_t",
    "link_blocks_t",
    "link_used_t",
    "meta_t",
    "metadata",
    "rate_grants_t",
    "stock_t",
]

metadata = MetaData()

meta_t = Table(
    "kms_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

link_blocks_t = Table(
    "kms_link_blocks",
    metadata,
    Column("peer", String(128), primary_key=True),
    Column("block_id", String(128), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("send_offset", Integer, nullable=False),
    Column("recv_bytes", Integer, nullable=False),
    Column("deposited_at", Float, nullable=False),
)

link_used_t = Table(
    "kms_link_used",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer", String(128), nullable=False),
    Column("block_id", String(128), nullable=False),
    Column("start", Integer, nullable=False),
    Column("length", Integer, nullable=False),
    Index("ix_link_used_block", "peer", "block_id"),
)

keys_t = Table(
    "kms_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("slave_sae", String(256), primary_key=True),
    Column("master_sae", String(256), nullable=False),
    Column("size_bits", Integer, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("relay_id", String(36), nullable=True),
    Column("slaves", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_keys_relay", "relay_id"),
    Index("ix_keys_pair", "master_sae", "slave_sae"),
    Index("ix_keys_expiry", "expires_at"),
)

#: key bits granted to each master SAE, one row per Get key, kept for the quota window; read
#: only when several worker processes serve one KME (one process keeps the window in memory)
rate_grants_t = Table(
    "kms_rate_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("master_sae", String(256), nullable=False),
    Column("granted_at", Float, nullable=False),
    Column("bits", Integer, nullable=False),
    Index("ix_rate_master", "master_sae", "granted_at"),
)

#: keys relayed ahead of demand, held at the master's KME until a master SAE takes them
#: (``state``: ``reserved`` while the relay is in flight, ``ready``, ``voiding`` until the far
#: KME has been told to drop its copy); the far KME holds the same keys in ``kms_keys``
stock_t = Table(
    "kms_stock",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("master_sae", String(256), nullable=False),
    Column("slave_sae", String(256), nullable=False),
    Column("size_bits", Integer, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("relay_id", String(36), nullable=False),
    Column("path", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_stock_pair", "master_sae", "slave_sae", "state", "expires_at"),
    Index("ix_stock_relay", "relay_id"),
)

audit_t = Table(
    "kms_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("kme_id", String(128), nullable=False),
    Column("event", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head_t = Table(
    "kms_audit_head",
    metadata,
    Column("kme_id", String(128), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
