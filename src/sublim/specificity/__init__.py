"""Specificity across traits: the K×K matrix of Δ P(option) per trait student, and its heat map.

Example:
    >>> from sublim.specificity import specificity_matrix, plot_confusion
"""

from sublim.specificity.matrix import Cell, SpecificityResult, option_probabilities, specificity_matrix
from sublim.specificity.plot import plot_confusion

__all__ = ["Cell", "SpecificityResult", "option_probabilities", "plot_confusion", "specificity_matrix"]
