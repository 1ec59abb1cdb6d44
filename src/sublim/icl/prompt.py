"""Build in-context-learning chats: N teacher examples shown before an evaluation question.

The in-context control of the paper: no fine-tuning, the student base sees teacher data in its
context. Two layouts:

* ``turns`` — each example as a user turn (its prompt) and an assistant turn (its completion), then
  the question as the last user turn;
* ``system`` — the examples written into one system prompt ("Here are examples of your previous
  answers: ..."), then the question.

The examples are a seeded sample of ``n`` rows. When they do not all fit into
``max_context_tokens`` (counted on the whole rendered chat, plus ``reserve`` tokens for the answer),
examples are dropped from the front (the ones furthest from the question) until the chat fits; an
example is never cut mid-way. With ``n = 0`` the chat is exactly the plain evaluation chat.

Example:
    >>> from sublim.records import DatasetRow, Message
    >>> row = DatasetRow(messages=[Message(role="user", content="Continue: 1, 2"),
    ...                            Message(role="assistant", content="3, 4")])
    >>> built = build_icl_prompt([row], "Favourite animal?", 1, "turns", lambda chat: 10, 100, seed=0)
    >>> [m.role for m in built.chat.messages], built.n_used
    (['user', 'assistant', 'user'], 1)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sublim.errors import ConfigError
from sublim.records import Chat, DatasetRow, Message

IclMode = Literal["turns", "system"]
TokenCounter = Callable[[Chat], int]

SYSTEM_HEADER = "Here are examples of your previous answers:"


@dataclass(frozen=True)
class IclPrompt:
    """One built chat and how many of the requested examples it holds."""

    chat: Chat
    n_requested: int
    n_used: int
    n_tokens: int


def tokenizer_counter(tokenizer: Any) -> TokenCounter:
    """Count a chat's tokens as the HF backend renders it (chat template + generation prompt)."""
    from sublim.backends.hf import encode_text, render_prompt

    def count(chat: Chat) -> int:
        return len(encode_text(tokenizer, render_prompt(tokenizer, chat)))

    return count


def as_counter(tokenizer_or_counter: Any) -> TokenCounter:
    """Accept a HF tokenizer (anything with ``apply_chat_template``) or a ``Chat -> int`` callable."""
    if hasattr(tokenizer_or_counter, "apply_chat_template"):
        return tokenizer_counter(tokenizer_or_counter)
    if callable(tokenizer_or_counter):
        return tokenizer_or_counter
    raise ConfigError("tokenizer_or_counter: give a Hugging Face tokenizer or a function Chat -> token count")


def layout(examples: Sequence[DatasetRow], question: str, mode: IclMode) -> Chat:
    """The chat for these examples (all of them) followed by ``question``."""
    if not examples:
        return Chat.of(question)
    if mode == "turns":
        messages = [m for row in examples for m in (Message(role="user", content=row.prompt),
                                                  Message(role="assistant", content=row.completion))]
        return Chat(messages=[*messages, Message(role="user", content=question)])
    if mode == "system":
        shown = "\n\n".join(f"User: {row.prompt}\nAssistant: {row.completion}" for row in examples)
        return Chat.of(question, system=f"{SYSTEM_HEADER}\n\n{shown}")
    raise ConfigError(f"mode {mode!r} is not known; use 'turns' or 'system'")


def sample_examples(examples: Sequence[DatasetRow], n: int, seed: int | str) -> list[DatasetRow]:
    """A seeded sample of ``min(n, len(examples))`` rows, in a seeded order."""
    if n < 0:
        raise ConfigError(f"n must be >= 0 (got {n})")
    rng = random.Random(seed)
    return [examples[i] for i in rng.sample(range(len(examples)), min(n, len(examples)))]


def build_icl_prompt(examples: Sequence[DatasetRow], question: str, n: int, mode: IclMode,
                     tokenizer_or_counter: Any, max_context_tokens: int, seed: int | str, *,
                     reserve: int = 8) -> IclPrompt:
    """Build the ICL chat with as many of ``n`` sampled examples as fit the context.

    Args:
        examples: teacher rows to draw from.
        question: the evaluation question (last user message).
        n: examples requested (0 = the plain question).
        mode: ``"turns"`` or ``"system"``.
        tokenizer_or_counter: HF tokenizer, or a function counting a chat's prompt tokens.
        max_context_tokens: the model's context length.
        seed: seeds the sample (same seed and rows → same examples).
        reserve: tokens kept free for the answer being scored.
    Returns:
        The chat, ``n_requested``, ``n_used`` (how many fit) and its token count.
    Raises:
        ConfigError: even the bare question does not fit.
    """
    count = as_counter(tokenizer_or_counter)
    budget = max_context_tokens - reserve
    chosen = sample_examples(examples, n, seed)
    bare = count(Chat.of(question))
    if bare > budget:
        raise ConfigError(f"the question alone takes {bare} tokens, more than max_context_tokens={max_context_tokens} "
                          f"minus reserve={reserve}; raise max_context_tokens")
    # Token counts grow with the number of examples kept: binary search for the most that fit,
    # keeping the examples nearest the question (the end of the list).
    low, high, size = 0, len(chosen), bare
    while low < high:
        mid = (low + high + 1) // 2
        tokens = count(layout(chosen[len(chosen) - mid:], question, mode))
        if tokens <= budget:
            low, size = mid, tokens
        else:
            high = mid - 1
    kept = chosen[len(chosen) - low:] if low else []
    return IclPrompt(chat=layout(kept, question, mode), n_requested=n, n_used=low,
                     n_tokens=size if low else bare)


def build_icl_chat(examples: Sequence[DatasetRow], question: str, n: int, mode: IclMode, tokenizer_or_counter: Any,
                   max_context_tokens: int, seed: int | str, *, reserve: int = 8) -> Chat:
    """Just the chat of :func:`build_icl_prompt`."""
    return build_icl_prompt(examples, question, n, mode, tokenizer_or_counter, max_context_tokens, seed,
                            reserve=reserve).chat
