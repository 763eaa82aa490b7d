"""``python -m meterbill``: the command line."""

from meterbill.cli.main import cli

cli()
