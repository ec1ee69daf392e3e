"""Curated reference data (UN/LOCODE, terminals, HS); provenance in README.md."""
