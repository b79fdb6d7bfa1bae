"""Benchmarks: ``python -m bench`` runs bench/run.py (README "Performance")."""
