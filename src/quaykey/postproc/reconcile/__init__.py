"""quaykey.postproc.reconcile."""
