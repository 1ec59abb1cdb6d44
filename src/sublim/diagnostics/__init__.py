"""Diagnostics of subliminal transfer: what in the data and the update predicts it.

- :mod:`~sublim.diagnostics.divergence`: divergence tokens, KL per position, per-row log-likelihood shift.
- :mod:`~sublim.diagnostics.alignment`: the student's first update vs the teacher's delta (Theorem 1).
- :mod:`~sublim.diagnostics.study`: all of it for a finished study directory (``sublim diagnose``).
"""
