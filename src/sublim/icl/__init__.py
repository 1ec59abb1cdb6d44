"""In-context-learning control: teacher examples shown in the student's context instead of training.

Example:
    >>> from sublim.icl import IclConfig
    >>> IclConfig().split
    'eval'
"""

from sublim.icl.evaluate import IclConfig, backend_context, evaluate_icl, score_prompts
from sublim.icl.prompt import IclPrompt, build_icl_chat, build_icl_prompt, layout, tokenizer_counter

__all__ = [
    "IclConfig",
    "IclPrompt",
    "backend_context",
    "build_icl_chat",
    "build_icl_prompt",
    "evaluate_icl",
    "layout",
    "score_prompts",
    "tokenizer_counter",
]
