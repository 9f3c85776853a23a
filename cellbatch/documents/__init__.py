"""Printed documents (reportlab): bag labels and the batch record."""
