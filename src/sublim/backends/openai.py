"""OpenAI backend: chat sampling with bounded concurrency, bounded retries and a resumable cache.

The pipeline calls :meth:`OpenAIBackend.generate` synchronously; inside, an ``AsyncOpenAI`` client
sends at most ``concurrency`` requests at once. Only transient failures (429, 5xx, 408, timeouts,
dropped connections) are retried, with exponential backoff and full jitter, at most ``max_retries``
times; any other 4xx fails at once with :class:`~sublim.errors.BackendError`. Every sample is
appended to a JSONL cache as soon as it arrives, keyed by a hash of (model, messages, sampling
parameters, sample index), so a killed run never pays twice for a sample and a rerun is served from
disk. The API key is read from ``OPENAI_API_KEY`` only and is never written anywhere.

Example:
    >>> backend = OpenAIBackend("gpt-4.1-nano", cache_path=Path("/tmp/nano.jsonl"))  # doctest: +SKIP
    >>> backend.generate([Chat.of("Name an animal.")], SamplingParams(n=2))            # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sublim.backends.base import BackendBase, SamplingParams
from sublim.errors import BackendError, CapabilityError, ConfigError, MissingDependencyError
from sublim.records import Chat, Completion, JsonlAppender

log = logging.getLogger(__name__)
T = TypeVar("T")
API_KEY_ENV = "OPENAI_API_KEY"


def api_key_from_env() -> str:
    """Return the API key from ``OPENAI_API_KEY`` (the only place sublim reads it from)."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ConfigError(
            f"{API_KEY_ENV} is not set: export your OpenAI API key in the environment "
            "(sublim never reads it from config files and never writes it anywhere)"
        )
    return key


def _openai_module():
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a core dependency
        raise MissingDependencyError("openai", "openai") from None
    return openai


# ----------------------------------------------------------------------------------------------- retries
@dataclass(frozen=True)
class RetryPolicy:
    """Which errors are transient and how long to wait before retry ``attempt`` (0-based)."""

    max_retries: int = 6
    base_s: float = 1.0
    max_s: float = 60.0

    def is_transient(self, exc: BaseException) -> bool:
        openai = _openai_module()
        if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
            return True
        if isinstance(exc, openai.APIStatusError):
            return exc.status_code in (408, 429) or exc.status_code >= 500
        return isinstance(exc, asyncio.TimeoutError | TimeoutError)

    def delay(self, attempt: int, exc: BaseException | None = None) -> float:
        """Full-jitter exponential backoff, raised to the server's ``Retry-After`` when it asks for more."""
        wait = random.uniform(0.0, min(self.max_s, self.base_s * 2**attempt))
        response = getattr(exc, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        if header:
            try:
                wait = max(wait, min(self.max_s, float(header)))
            except ValueError:
                pass
        return wait


def describe_error(exc: BaseException) -> str:
    """One line naming the error (status code and the API's message), never request headers."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message", message)
    text = message or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {text}"


async def call_with_retries_async(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    """Await ``fn()``; retry transient errors up to ``policy.max_retries`` times, else raise BackendError."""
    for attempt in range(policy.max_retries + 1):
        try:
            return await fn()
        except Exception as exc:  # noqa: BLE001 - classified right below; non-transient ones re-raise
            if not policy.is_transient(exc):
                raise BackendError(f"{what} failed: {describe_error(exc)}") from None
            if attempt == policy.max_retries:
                raise BackendError(
                    f"{what} failed after {policy.max_retries} retries: {describe_error(exc)} "
                    "(raise max_retries or lower concurrency if the API is rate-limiting you)"
                ) from None
            wait = policy.delay(attempt, exc)
            log.debug("%s: transient %s, retry %d in %.2fs", what, describe_error(exc), attempt + 1, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def call_with_retries(
    fn: Callable[[], T], policy: RetryPolicy, what: str, before_retry: Callable[[], T | None] | None = None
) -> T:
    """Synchronous twin of :func:`call_with_retries_async`.

    ``before_retry`` makes non-idempotent calls (upload, job creation) safe: it runs before each retry
    and, if it finds that the failed call did take effect server-side, its result is returned instead.
    """
    for attempt in range(policy.max_retries + 1):
        if attempt and before_retry is not None:
            found = before_retry()
            if found is not None:
                log.info("%s: the earlier attempt had succeeded server-side; reusing it", what)
                return found
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified right below
            if not policy.is_transient(exc):
                raise BackendError(f"{what} failed: {describe_error(exc)}") from None
            if attempt == policy.max_retries:
                raise BackendError(f"{what} failed after {policy.max_retries} retries: {describe_error(exc)}") from None
            time.sleep(policy.delay(attempt, exc))
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------- cache
def sample_key(model: str, chat: Chat, params: SamplingParams, index: int) -> str:
    """Cache key of sample ``index`` of ``chat`` (``params.n`` itself is not part of it)."""
    payload = {
        "model": model,
        "messages": [m.model_dump() for m in chat.messages],
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_new_tokens": params.max_new_tokens,
        "seed": params.seed,
        "index": index,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def request_seed(params: SamplingParams, index: int) -> int:
    """The API ``seed`` for sample ``index``: distinct per sample, stable across reruns."""
    return (params.seed * 1_000_003 + index) % 2**31


class SampleCache:
    """Append-only JSONL of finished samples; tolerant of a torn last line left by a kill."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._rows: dict[str, dict] = {}
        self._appender: JsonlAppender | None = None
        if self.path is not None:
            self._appender = JsonlAppender(self.path)
            for row in self._appender.existing:
                self._rows[row["key"]] = row

    def get(self, key: str) -> Completion | None:
        row = self._rows.get(key)
        return Completion(text=row["text"], finish_reason=row.get("finish_reason", "stop")) if row else None

    def put(self, key: str, completion: Completion) -> None:
        row = {"key": key, "text": completion.text, "finish_reason": completion.finish_reason}
        self._rows[key] = row
        if self._appender is not None:
            self._appender.append(row)

    def __len__(self) -> int:
        return len(self._rows)

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()


def default_cache_path(model: str) -> Path:
    from sublim.paths import cache_dir

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return cache_dir() / "openai" / f"{safe}.jsonl"


def run_sync(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even if the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro_factory())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# ----------------------------------------------------------------------------------------------- backend
class OpenAIBackend(BackendBase):
    """Chat sampling through the OpenAI API (or any OpenAI-compatible server via ``base_url``).

    Args:
        model: API model id, e.g. ``"gpt-4.1-nano-2025-04-14"`` or a fine-tuned ``"ft:..."`` id.
        base_url: another OpenAI-compatible endpoint (default: the SDK's, or ``OPENAI_BASE_URL``).
        cache_path: JSONL sample cache; ``None`` uses ``<cache_dir>/openai/<model>.jsonl``.
        use_cache: ``False`` disables the cache entirely (every call pays).
        concurrency: requests in flight at once.
        max_retries: retries per request on transient errors (429, 5xx, 408, timeouts, connection).
        timeout_s: per-request timeout.
        backoff_base_s, backoff_max_s: exponential backoff base and cap (full jitter).
        samples_per_request: up to this many of a chat's samples are asked for in one request
            (the API's ``n``); 1 sends one request per sample with its own seed.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        cache_path: Path | None = None,
        use_cache: bool = True,
        concurrency: int = 16,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        samples_per_request: int = 1,
        progress: bool | None = None,
    ) -> None:
        if concurrency < 1 or samples_per_request < 1 or max_retries < 0:
            raise ConfigError("OpenAIBackend: concurrency and samples_per_request must be >= 1, max_retries >= 0")
        self.model = model
        self.name = f"openai/{model}"
        self.base_url = base_url
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.samples_per_request = samples_per_request
        self.policy = RetryPolicy(max_retries=max_retries, base_s=backoff_base_s, max_s=backoff_max_s)
        self.progress = sys.stderr.isatty() if progress is None else progress
        path = (cache_path or default_cache_path(model)) if use_cache else None
        self.cache = SampleCache(path)
        self.requests_sent = 0  # API calls that returned a result (for tests and logs)

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, cache={self.cache.path})"

    def make_client(self, *, sync: bool = False):
        """A fresh SDK client (its own retries off: ours are bounded and classified)."""
        openai = _openai_module()
        cls = openai.OpenAI if sync else openai.AsyncOpenAI
        return cls(api_key=api_key_from_env(), base_url=self.base_url, timeout=self.timeout_s, max_retries=0)

    def request_body(self, chat: Chat, params: SamplingParams, first_index: int, n: int) -> dict:
        """The ``/v1/chat/completions`` body for samples ``first_index .. first_index + n - 1``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in chat.messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_completion_tokens": params.max_new_tokens,
            "seed": request_seed(params, first_index),
        }
        if n > 1:
            body["n"] = n
        return body

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        """Sample ``params.n`` completions per chat (consecutive, in input order); cached ones are free."""
        keys = [[sample_key(self.model, c, params, j) for j in range(params.n)] for c in chats]
        jobs: list[tuple[int, list[int]]] = []  # (chat index, missing sample indices for one request)
        for i, chat_keys in enumerate(keys):
            missing = [j for j, k in enumerate(chat_keys) if self.cache.get(k) is None]
            for start in range(0, len(missing), self.samples_per_request):
                jobs.append((i, missing[start : start + self.samples_per_request]))
        n_missing = sum(len(js) for _, js in jobs)
        log.info("%s: %d samples requested, %d cached, %d to fetch in %d requests",
                 self.name, len(keys) * params.n, len(keys) * params.n - n_missing, n_missing, len(jobs))
        if jobs:
            run_sync(lambda: self._fetch_all(chats, params, keys, jobs))
        out = []
        for chat_keys in keys:
            for k in chat_keys:
                completion = self.cache.get(k)
                if completion is None:  # every job either filled its keys or raised
                    raise BackendError(f"{self.name}: sample {k[:12]} missing after generation (please report)")
                out.append(completion)
        return out

    async def _fetch_all(self, chats, params, keys, jobs) -> None:
        client = self.make_client()
        semaphore = asyncio.Semaphore(self.concurrency)
        bar = _Progress(len(jobs), f"sampling {self.model}", enabled=self.progress)

        failures: list[BaseException] = []

        async def one(i: int, indices: list[int]) -> None:
            # Contiguous runs share one request (seed of the first); a gap starts a new request.
            n = len(indices)
            if indices != list(range(indices[0], indices[0] + n)):
                for j in indices:
                    await one(i, [j])
                return
            body = self.request_body(chats[i], params, indices[0], n)
            async with semaphore:
                if failures:  # after a fatal error: start nothing new, but let requests in flight land
                    return
                try:
                    resp = await call_with_retries_async(
                        lambda: client.chat.completions.create(**body), self.policy, f"{self.name} chat completion"
                    )
                except BackendError as exc:
                    failures.append(exc)
                    return
            self.requests_sent += 1
            choices = sorted(resp.choices, key=lambda c: c.index)
            if len(choices) < n:
                failures.append(BackendError(f"{self.name}: asked for {n} choices, got {len(choices)}"))
            for j, choice in zip(indices, choices, strict=False):
                text = choice.message.content or ""
                self.cache.put(keys[i][j], Completion(text=text, finish_reason=choice.finish_reason or "stop"))
            bar.advance()

        try:
            await asyncio.gather(*(one(i, idx) for i, idx in jobs))
        finally:
            bar.close()
            await client.close()
        if failures:
            raise failures[0]

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        raise CapabilityError(
            f"backend {self.name!r} cannot score given continuations: the OpenAI chat API returns "
            "log-probabilities only for tokens it samples itself, not for a continuation you supply. "
            "Use a sampling-based evaluation, or an hf/ or vllm/ backend for log-probability metrics."
        )

    def close(self) -> None:
        self.cache.close()


class _Progress:
    """A rich progress bar when asked for (TTY by default); silent otherwise."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self._progress = None
        if enabled and total > 1:
            from rich.progress import Progress

            self._progress = Progress(transient=False)
            self._task = self._progress.add_task(label, total=total)
            self._progress.start()

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
