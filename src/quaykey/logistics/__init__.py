"""quaykey.logistics."""
