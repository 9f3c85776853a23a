"""Run the command line: ``python -m cellbatch``."""

from cellbatch.cli.app import main

main()
