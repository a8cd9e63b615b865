"""Refinement: impl's steps are spec steps, through the abstraction function."""
