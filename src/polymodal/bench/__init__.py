"""Benchmarks: datasets x models x seeds, run cell by cell, compared in one table."""
