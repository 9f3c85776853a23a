"""cellbatch: GMP batch record and QC tracker for mesenchymal stromal cell therapies."""

__version__ = "0.1.0"
