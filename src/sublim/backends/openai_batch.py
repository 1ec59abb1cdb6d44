"""The OpenAI Batch API path for large datasets (half price, results within 24 h), restart-safe.

Samples missing from the backend's cache are written as a requests JSONL (``custom_id`` = the
sample's cache key), uploaded, and submitted as one batch per ``max_requests_per_batch`` requests.
The batch id is saved in ``work_dir/batch-<hash>.json`` before polling, so a restarted run
re-attaches instead of paying again. Results go into the same cache as online sampling; items the
batch could not answer are fetched online (with the usual bounded retries) at the end.

Example:
    >>> backend = OpenAIBackend("gpt-4.1-nano-2025-04-14", cache_path=Path("run/cache.jsonl"))  # doctest: +SKIP
    >>> BatchSampler(backend, Path("run/batches")).generate(chats, SamplingParams())          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from sublim.backends.base import SamplingParams
from sublim.backends.openai import OpenAIBackend, call_with_retries, sample_key
from sublim.errors import BackendError
from sublim.pipeline.artifacts import write_json
from sublim.records import Chat, Completion

log = logging.getLogger(__name__)
FAILED = ("failed", "expired", "cancelled", "cancelling")


class BatchSampler:
    """Sample through the Batch API into ``backend``'s cache; ``generate`` has the backend's contract.

    Args:
        backend: supplies model, base URL, retry policy and the sample cache.
        work_dir: where request files and batch ids are kept (one ``batch-<hash>.json`` per batch).
        poll_interval_s, max_poll_interval_s: first and largest wait between status checks.
        max_wait_s: give up waiting (the batch keeps running; rerun to re-attach).
        max_requests_per_batch: the API accepts up to 50,000 requests per batch.
    """

    def __init__(
        self,
        backend: OpenAIBackend,
        work_dir: Path,
        *,
        poll_interval_s: float = 30.0,
        max_poll_interval_s: float = 600.0,
        max_wait_s: float = 26 * 3600.0,
        max_requests_per_batch: int = 50_000,
    ) -> None:
        self.backend = backend
        self.work_dir = Path(work_dir)
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.max_wait_s = max_wait_s
        self.max_requests_per_batch = max_requests_per_batch

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        """Like :meth:`OpenAIBackend.generate`, but missing samples go through batches first."""
        b = self.backend
        requests = []
        for chat in chats:
            for j in range(params.n):
                key = sample_key(b.model, chat, params, j)
                if b.cache.get(key) is None:
                    requests.append({"custom_id": key, "method": "POST", "url": "/v1/chat/completions",
                                     "body": b.request_body(chat, params, j, 1)})
        log.info("%s: %d samples to fetch through the Batch API", b.name, len(requests))
        if requests:
            client = b.make_client(sync=True)
            try:
                for start in range(0, len(requests), self.max_requests_per_batch):
                    self._run_one(client, requests[start : start + self.max_requests_per_batch])
            finally:
                client.close()
        return b.generate(chats, params)  # serves from the cache; fetches online whatever the batch lacked

    def _run_one(self, client, requests: list[dict]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in requests)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        state_path = self.work_dir / f"batch-{digest}.json"
        state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {"requests": len(requests)}
        policy = self.backend.policy
        if not state.get("batch_id"):
            req_path = self.work_dir / f"batch-{digest}.requests.jsonl"
            req_path.write_text(text, encoding="utf-8")
            if not state.get("input_file_id"):
                filename = req_path.name
                state["input_file_id"] = call_with_retries(
                    lambda: client.files.create(file=(filename, text.encode()), purpose="batch").id,
                    policy, "upload batch requests", before_retry=lambda: self._find_file(client, filename, len(text.encode())))
                write_json(state_path, state)
            batch = call_with_retries(
                lambda: client.batches.create(input_file_id=state["input_file_id"], endpoint="/v1/chat/completions",
                                              completion_window="24h", metadata={"sublim_batch": digest}),
                policy, "create batch", before_retry=lambda: self._find_batch(client, digest))
            state["batch_id"] = batch.id
            write_json(state_path, state)
            log.info("batch %s submitted (%d requests)", batch.id, len(requests))
        else:
            log.info("re-attaching to batch %s", state["batch_id"])
        batch = self._wait(client, state["batch_id"])
        served = self._collect(client, batch.output_file_id) if batch.output_file_id else 0
        state.update(status=batch.status, served=served)
        write_json(state_path, state)
        log.info("batch %s: %d of %d requests answered", batch.id, served, len(requests))

    def _find_file(self, client, filename: str, size: int) -> str | None:
        for f in call_with_retries(lambda: list(client.files.list(purpose="batch")), self.backend.policy, "list files"):
            if f.filename == filename and f.bytes == size:
                return f.id
        return None

    def _find_batch(self, client, digest: str):
        for batch in call_with_retries(lambda: list(client.batches.list(limit=100)), self.backend.policy, "list batches"):
            if (batch.metadata or {}).get("sublim_batch") == digest and batch.status not in FAILED:
                return batch
        return None

    def _wait(self, client, batch_id: str):
        start, interval = time.monotonic(), self.poll_interval_s
        while True:
            batch = call_with_retries(lambda: client.batches.retrieve(batch_id), self.backend.policy,
                                      f"retrieve batch {batch_id}")
            if batch.status == "completed":
                return batch
            if batch.status in FAILED:
                errors = getattr(batch, "errors", None)
                detail = "; ".join(e.message or "" for e in (errors.data or [])) if errors and errors.data else ""
                raise BackendError(f"batch {batch_id} {batch.status}{': ' + detail if detail else ''}")
            if time.monotonic() - start > self.max_wait_s:
                raise BackendError(f"batch {batch_id} still {batch.status} after {self.max_wait_s:.0f}s; "
                                   "rerun to keep waiting (it re-attaches)")
            time.sleep(interval)
            interval = min(interval * 1.5, self.max_poll_interval_s)

    def _collect(self, client, file_id: str) -> int:
        """Put every answered request of the output file into the cache; return how many."""
        content = call_with_retries(lambda: client.files.content(file_id).text, self.backend.policy,
                                    f"download {file_id}")
        served = 0
        for line in content.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            response = item.get("response") or {}
            if response.get("status_code") != 200:
                continue
            choice = response["body"]["choices"][0]
            self.backend.cache.put(item["custom_id"], Completion(text=choice["message"].get("content") or "",
                                                                 finish_reason=choice.get("finish_reason") or "stop"))
            served += 1
        return served
