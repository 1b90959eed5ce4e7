"""Benchmarks of the promptlib.rollback collection against the runbook, run by bench/run.py."""
