"""Scenario testing: the ``kmscript test`` runner and the pytest plugin."""
