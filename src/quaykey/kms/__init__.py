"""quaykey.kms."""
