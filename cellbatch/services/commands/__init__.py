"""Services that write: each is one transaction with its audit entries."""
