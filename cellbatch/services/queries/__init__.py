"""Services that only read: read models of batches, reviews, records and the audit trail."""
