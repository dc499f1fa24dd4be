"""What every stage shares: the typed contracts between stages, the one geometry module, error types."""
