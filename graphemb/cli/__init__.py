"""The ``graphemb`` command line."""
