"""Grading student submissions: intake, execution, scores, feedback."""
