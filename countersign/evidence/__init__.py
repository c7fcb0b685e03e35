"""Evidence and reports: the audit trail, signed digests, verification, queries and reports."""
