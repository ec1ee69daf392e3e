"""quaykey.dashboard."""
