"""Use cases: each runs in one transaction with its audit entries and returns read models."""
