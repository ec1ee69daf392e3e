"""Key Management Entities: ETSI GS QKD 014 over mutual TLS, KME-to-KME relay, durable key store.

Applications (SAEs) import :mod:`quaykey.kms.client` and :mod:`quaykey.kms.schemas` only.
Operators use ``quaykey pki init``, ``quaykey kme serve`` and ``quaykey kme status``; the
network layer deposits link key material with
:meth:`quaykey.kms.service.KmeService.deposit_link_key`. See ``docs/kms.md``.

Modules: ``app`` (FastAPI app and uvicorn config), ``api`` (routes), ``service`` (behaviour),
``store`` (SQL tables, sealing, audit chain), ``relay`` (one-time pad per hop), ``config``
(YAML), ``pki`` (development CA, certificate identities), ``tls`` (client certificate for
uvicorn), ``client`` and ``schemas`` (for applications), ``errors``, ``faults`` (tests).
This package imports nothing at import time, so ``import quaykey.kms.client`` stays light.
"""
