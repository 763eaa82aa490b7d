"""The ``meterbill`` command line: a thin click layer over ``meterbill.Workspace``."""
