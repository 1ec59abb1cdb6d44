"""sublim: reproduce, measure and audit subliminal learning.

Pipeline: teacher → generation → filtering → finetuning (student) → evaluation → reporting.
Run ``sublim --help`` for the command line, or ``sublim demo`` for the default study (the CPU model organism).
"""

__version__ = "0.1.0"
