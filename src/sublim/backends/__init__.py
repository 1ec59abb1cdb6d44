"""Model backends behind one small interface (see ``base``): local HF, vLLM, OpenAI, fake."""

from sublim.backends.base import Finetuner, ModelBackend, SamplingParams, get_backend, register_backend

__all__ = ["Finetuner", "ModelBackend", "SamplingParams", "get_backend", "register_backend"]
