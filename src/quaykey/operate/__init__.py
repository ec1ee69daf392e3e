"""``quaykey up``: the network, its KMEs and the port and customs applications, live.

The layer above :mod:`quaykey.logistics` and below :mod:`quaykey.cli`: :class:`Live` runs
the Beijing-Shanghai backbone (with Micius) tick by tick in scaled real time, feeds the
KMEs of the applications' hubs with the key the network relays to them, runs the
applications through those KMEs, raises alarms, applies operator actions and persists all
of it in the state directory; :func:`create_dashboard_app` serves it over HTTP.
"""

from __future__ import annotations

from quaykey.operate.config import KmsPlan, UpConfig
from quaykey.operate.live import Live
from quaykey.operate.server import create_dashboard_app

__all__ = ["KmsPlan", "Live", "UpConfig", "create_dashboard_app"]
