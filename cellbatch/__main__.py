"""Run the command line: ``python -m cellbatch``."""

from cellbatch.cli.entry import main

main()
