"""Use cases. Each owns its transaction, raises DomainError, writes its outbox rows (STYLE §4)."""
