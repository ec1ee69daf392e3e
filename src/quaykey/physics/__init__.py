"""quaykey.physics."""
