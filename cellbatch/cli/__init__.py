"""The ``cellbatch`` command line (Typer): one module per noun."""
