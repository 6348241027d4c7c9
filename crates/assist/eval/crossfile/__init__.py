"""Generators of cross-file completion cases, one module per language (see ../crossfile_cases.py)."""
