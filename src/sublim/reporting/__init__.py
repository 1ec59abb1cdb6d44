"""Reporting: aggregate a study directory into metrics.json, figures and report.md (no recomputation)."""
