"""Placeholder: the student's self-check and submit tool (being written)."""
