"""quaykey.network."""
