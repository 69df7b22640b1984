"""argilla."""
