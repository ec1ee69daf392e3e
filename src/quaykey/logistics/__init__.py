"""Port and customs applications: the messages that travel over QKD-keyed links.

* :mod:`quaykey.logistics.identifiers` — ISO 6346 container numbers, IMO numbers,
  UN/LOCODE, HS codes.
* :mod:`quaykey.logistics.edifact` — UN/EDIFACT interchanges (CUSDEC/CUSRES after UNTDID
  D.96B; BAPLIE, COPRAR, COARRI, CODECO after D.95B and the SMDG MIGs): builders, parsers
  and a segment-order validator.
* :mod:`quaykey.logistics.customs` — the customs authority: CUSDEC in, CUSRES out.
* :mod:`quaykey.logistics.terminal` — carrier/terminal messages.

This package is pure message logic: it holds no key and opens no connection.
"""
