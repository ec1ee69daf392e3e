"""HTTP routes of the KME: ETSI GS QKD 014 (:mod:`.etsi`) and KME-to-KME relay (:mod:`.relay`)."""
