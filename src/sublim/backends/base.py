"""The backend protocol: what the pipeline needs from a model, whatever serves it.

Sampling (``generate``) is required; log-probabilities (``score``) are optional and raise
``CapabilityError`` where a backend lacks them. Fine-tuning is a separate protocol (``Finetuner``).
Backends are looked up by name prefix in a plain dict of factories; each factory imports its SDK lazily
so ``import sublim`` stays light and a missing extra gives a pip hint, not an ImportError.

Example:
    >>> SamplingParams(temperature=0.0).greedy
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from sublim.errors import CapabilityError, ConfigError
from sublim.records import Chat, Completion, ModelRef


class SamplingParams(BaseModel):
    """How to sample. ``temperature=0`` means greedy decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(1.0, ge=0.0, description="0 = greedy")
    max_new_tokens: int = Field(64, gt=0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    n: int = Field(1, gt=0, description="completions per chat (returned consecutively)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@runtime_checkable
class ModelBackend(Protocol):
    """A model that can continue chats."""

    name: str

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        """Continue every chat; ``params.n`` completions per chat, consecutive, in input order."""
        ...

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        """Log-probability of each continuation as the assistant's reply (sum over its tokens)."""
        ...

    def close(self) -> None: ...


class BackendBase:
    """Default hooks shared by backends: context manager and a ``score`` that says it is missing."""

    name: str = "base"

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        raise CapabilityError(f"backend {self.name!r} does not provide log-probabilities")

    def close(self) -> None:
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Finetuner(Protocol):
    """Something that fine-tunes a base model on a chat JSONL file and returns the new model."""

    def finetune(self, base: ModelRef, dataset: Path, config: Any, out_dir: Path) -> ModelRef: ...


BackendFactory = Callable[..., ModelBackend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(prefix: str, factory: BackendFactory) -> None:
    """Register ``factory`` for model names ``"<prefix>/<model>"``."""
    _REGISTRY[prefix] = factory


def get_backend(name: str, **kwargs: Any) -> ModelBackend:
    """Build a backend from ``"<prefix>/<model>"``, e.g. ``"hf//path/to/ckpt"`` or ``"openai/gpt-4.1-nano"``."""
    _ensure_builtin()
    prefix, _, model = name.partition("/")
    if prefix not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown backend {prefix!r} in model name {name!r}; known backends: {known}")
    return _REGISTRY[prefix](model, **kwargs)


def _ensure_builtin() -> None:
    """Register built-in backends on first use (lazy: their SDKs import only when chosen)."""
    if _REGISTRY:
        return

    def hf(model: str, **kw: Any) -> ModelBackend:
        from sublim.backends.hf import HFBackend

        return HFBackend(model, **kw)

    def openai(model: str, **kw: Any) -> ModelBackend:
        from sublim.backends.openai import OpenAIBackend

        return OpenAIBackend(model, **kw)

    def vllm(model: str, **kw: Any) -> ModelBackend:
        from sublim.backends.vllm import VLLMBackend

        return VLLMBackend(model, **kw)

    def fake(model: str, **kw: Any) -> ModelBackend:
        from sublim.backends.fake import FakeBackend

        return FakeBackend(model, **kw)

    for prefix, factory in {"hf": hf, "openai": openai, "vllm": vllm, "fake": fake}.items():
        _REGISTRY.setdefault(prefix, factory)
