"""Can the trait be seen in the data? A statistical detector and an LLM-judge detector.

Example:
    >>> from sublim.detection import DetectorConfig
    >>> DetectorConfig().folds
    5
"""

from sublim.detection.judge import (
    JudgeDetectionConfig,
    JudgeDetectionResult,
    LogprobChoiceJudge,
    judge_detect,
)
from sublim.detection.statistical import DetectionResult, DetectorConfig, FeatureWeight, detect

__all__ = [
    "DetectionResult",
    "DetectorConfig",
    "FeatureWeight",
    "JudgeDetectionConfig",
    "JudgeDetectionResult",
    "LogprobChoiceJudge",
    "detect",
    "judge_detect",
]
