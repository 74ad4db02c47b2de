"""alpha."""
