"""Key Management Entities: ETSI GS QKD 014 over mutual TLS, KME-to-KME relay, durable key store.

Applications (SAEs) import :mod:`quaykey.kms.client` and :mod:`quaykey.kms.schemas` only.
Operators use ``quaykey examples``, ``quaykey pki init``, ``quaykey kme serve`` and
``quaykey kme status``; the network layer deposits link key material with
:meth:`quaykey.kms.service.KmeService.deposit_link_key`. See ``docs/kms.md``.

Modules: ``app`` (FastAPI app and uvicorn config), ``api`` (routes, request guard, fast
path, probes), ``service`` (the KME, assembled from ``access`` (who may do what),
``delivery`` (ETSI 014), ``relay_protocol`` (reserve/confirm/void) and ``quota`` (rate
window)), ``store`` (package: sealing, tables, audit chain, keys and link material,
database), ``relay`` (one-time pad and one-time MAC per hop, peer transport), ``config``
(YAML), ``pki`` (development CA, name checks, certificate identities), ``tls`` (client
certificate and connection guards for uvicorn), ``client`` and ``schemas`` (for
applications), ``faults`` (tests), ``feed`` (link keys from the network simulation). Errors
live in :mod:`quaykey.errors`. This package imports nothing at import time, so
``import quaykey.kms.client`` stays light.
"""
