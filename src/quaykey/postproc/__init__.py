"""quaykey.postproc."""
