"""Fine-tuning through the OpenAI API, restart-safe: a killed run re-attaches to its job.

Steps, each recorded in ``out_dir/job.json`` before the next one starts:

1. validate the chat JSONL, drop exact duplicate rows (content hash), write ``train.jsonl`` and
   check that every row is in it exactly once;
2. upload it (a retry first looks for a file of the same name and size, so a lost answer never
   uploads the rows twice);
3. create the job with a ``sublim_run`` metadata tag (a retry, or a restart that lost ``job.json``,
   first lists jobs carrying that tag and re-attaches to one);
4. poll with growing intervals until the job succeeds (``model_ref.json`` is written) or fails
   (:class:`~sublim.errors.BackendError` with the API's message).

Example:
    >>> finetuner = OpenAIFinetuner()                                           # doctest: +SKIP
    >>> ref = finetuner.finetune(ModelRef(backend="openai", name="gpt-4.1-nano-2025-04-14"),
    ...     Path("filtered.jsonl"), OpenAIFinetuneConfig(n_epochs=10), Path("out"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sublim.backends.openai import RetryPolicy, api_key_from_env, call_with_retries
from sublim.errors import BackendError, DataError
from sublim.pipeline.artifacts import write_json
from sublim.records import DatasetRow, ModelRef, read_jsonl, write_jsonl
from sublim.yamlconfig import StrictModel, config_hash

log = logging.getLogger(__name__)
Auto = Literal["auto"]
RUNNING = ("validating_files", "queued", "running")


class OpenAIFinetuneConfig(StrictModel):
    """Hyperparameters of an OpenAI fine-tuning job and how to wait for it."""

    n_epochs: int | Auto = Field("auto", description="epochs over the training file (paper: 10), or 'auto'")
    learning_rate_multiplier: float | Auto = Field("auto", description="scales the API's base learning rate")
    batch_size: int | Auto = Field("auto", description="examples per step, or 'auto'")
    seed: int | None = Field(0, description="job seed for reproducibility (None lets the API choose)")
    suffix: str | None = Field(None, max_length=64, description="added to the fine-tuned model's name")
    poll_interval_s: float = Field(30.0, gt=0, description="first wait between status checks")
    max_poll_interval_s: float = Field(300.0, gt=0, description="cap of the growing wait between checks")
    max_wait_s: float = Field(48 * 3600.0, gt=0, description="give up waiting (the job keeps running; rerun to re-attach)")
    deduplicate: bool = Field(True, description="drop exact duplicate rows before upload (else: error on duplicates)")

    def hyperparameters(self) -> dict[str, Any]:
        return {"n_epochs": self.n_epochs, "learning_rate_multiplier": self.learning_rate_multiplier,
                "batch_size": self.batch_size}


def row_hash(row: DatasetRow) -> str:
    """Content hash of a training row (its messages, canonical JSON)."""
    blob = json.dumps([m.model_dump() for m in row.messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare_training_file(dataset: Path, out_path: Path, *, deduplicate: bool = True) -> dict[str, int | str]:
    """Validate ``dataset``, write each distinct row exactly once to ``out_path``; return counts and hash.

    Raises:
        DataError: a malformed row (file:line:field), a row not ending with the assistant's message,
            duplicates when ``deduplicate`` is off, or a written file whose rows do not match.
    """
    rows = read_jsonl(dataset, DatasetRow)
    if not rows:
        raise DataError(f"{dataset}: no training rows")
    seen: set[str] = set()
    unique = []
    for lineno, row in enumerate(rows, start=1):
        if row.messages[-1].role != "assistant":
            raise DataError(f"{dataset}: row {lineno}: field 'messages': the last message must be the assistant's")
        h = row_hash(row)
        if h in seen:
            if not deduplicate:
                raise DataError(f"{dataset}: row {lineno} duplicates an earlier row (set deduplicate: true to drop)")
            continue
        seen.add(h)
        unique.append(row)
    write_jsonl(out_path, [{"messages": [m.model_dump() for m in r.messages]} for r in unique])
    written = [row_hash(r) for r in read_jsonl(out_path, DatasetRow)]
    if len(written) != len(unique) or set(written) != seen or len(set(written)) != len(written):
        raise DataError(f"{out_path}: wrote {len(written)} rows for {len(unique)} distinct inputs (disk problem?)")
    if len(unique) < len(rows):
        log.warning("%s: dropped %d duplicate rows of %d", dataset, len(rows) - len(unique), len(rows))
    digest = hashlib.sha256(out_path.read_bytes()).hexdigest()
    return {"rows_in": len(rows), "rows_uploaded": len(unique), "duplicates_dropped": len(rows) - len(unique),
            "file_sha256": digest, "file_bytes": out_path.stat().st_size}


class OpenAIFinetuner:
    """Fine-tune OpenAI models; implements the ``Finetuner`` protocol. The key comes from the environment."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
    ) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.policy = RetryPolicy(max_retries=max_retries, base_s=backoff_base_s, max_s=backoff_max_s)

    def _client(self):
        import openai

        return openai.OpenAI(api_key=api_key_from_env(), base_url=self.base_url, timeout=self.timeout_s, max_retries=0)

    def finetune(self, base: ModelRef, dataset: Path, config: OpenAIFinetuneConfig, out_dir: Path) -> ModelRef:
        """Fine-tune ``base`` on ``dataset``; safe to call again after a crash (re-attaches to the job).

        Returns:
            ``ModelRef(backend="openai", name=<fine_tuned_model id>)``, also written to ``out_dir/model_ref.json``.
        Raises:
            DataError: invalid training data. BackendError: the job failed or was cancelled (with the
            API's message), non-transient API errors, or transient ones beyond ``max_retries``.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ref_path = out_dir / "model_ref.json"
        if ref_path.is_file():
            return ModelRef.model_validate_json(ref_path.read_text(encoding="utf-8"))
        state_path = out_dir / "job.json"
        state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
        client = self._client()
        try:
            if not state.get("job_id"):
                counts = prepare_training_file(Path(dataset), out_dir / "train.jsonl", deduplicate=config.deduplicate)
                tag = config_hash({"base": base.name, "data": counts["file_sha256"],
                                   "config": config.model_dump(mode="json", exclude={"poll_interval_s",
                                                                                      "max_poll_interval_s",
                                                                                      "max_wait_s"})})
                if state.get("tag") not in (None, tag):
                    raise DataError(f"{state_path}: belongs to another dataset/config; use a fresh out_dir")
                state.update(tag=tag, base_model=base.name, **counts)
                write_json(state_path, state)
                job = self._find_job(client, tag)
                if job is None:
                    if not state.get("training_file_id"):
                        state["training_file_id"] = self._upload(client, out_dir / "train.jsonl", tag)
                        write_json(state_path, state)
                    job = self._create_job(client, base, state["training_file_id"], config, tag)
                state["job_id"] = job.id
                write_json(state_path, state)
                log.info("fine-tuning job %s created for %s (%d rows)", job.id, base.name, counts["rows_uploaded"])
            else:
                log.info("re-attaching to fine-tuning job %s", state["job_id"])
            job = self._wait(client, state["job_id"], config)
        finally:
            client.close()
        ref = ModelRef(backend="openai", name=job.fine_tuned_model,
                       meta={"job_id": job.id, "base_model": base.name, "training_file_id": state.get("training_file_id"),
                             "rows_uploaded": state.get("rows_uploaded"), "trained_tokens": job.trained_tokens})
        write_json(ref_path, ref.model_dump(mode="json"))
        return ref

    # ------------------------------------------------------------------ steps
    def _upload(self, client, path: Path, tag: str) -> str:
        filename = f"sublim-{tag}.jsonl"
        size = path.stat().st_size

        def existing() -> str | None:
            for f in call_with_retries(lambda: list(client.files.list(purpose="fine-tune")), self.policy, "list files"):
                if f.filename == filename and f.bytes == size:
                    return f.id
            return None

        def upload() -> str:
            return client.files.create(file=(filename, path.read_bytes()), purpose="fine-tune").id

        file_id = call_with_retries(upload, self.policy, f"upload {path.name}", before_retry=existing)
        log.info("uploaded %s as %s", path, file_id)
        return file_id

    def _find_job(self, client, tag: str):
        """A job created earlier by this run (same tag) that did not fail, else None."""
        jobs = call_with_retries(lambda: list(client.fine_tuning.jobs.list(metadata={"sublim_run": tag}, limit=20)),
                                 self.policy, "list fine-tuning jobs")
        for job in jobs:
            if (job.metadata or {}).get("sublim_run") == tag and job.status not in ("failed", "cancelled"):
                log.info("found fine-tuning job %s already created for this run", job.id)
                return job
        return None

    def _create_job(self, client, base: ModelRef, file_id: str, config: OpenAIFinetuneConfig, tag: str):
        kwargs: dict[str, Any] = {
            "model": base.name,
            "training_file": file_id,
            "method": {"type": "supervised", "supervised": {"hyperparameters": config.hyperparameters()}},
            "metadata": {"sublim_run": tag},
        }
        if config.seed is not None:
            kwargs["seed"] = config.seed
        if config.suffix:
            kwargs["suffix"] = config.suffix
        return call_with_retries(lambda: client.fine_tuning.jobs.create(**kwargs), self.policy,
                                 "create fine-tuning job", before_retry=lambda: self._find_job(client, tag))

    def _wait(self, client, job_id: str, config: OpenAIFinetuneConfig):
        start = time.monotonic()
        interval = config.poll_interval_s
        last = None
        while True:
            job = call_with_retries(lambda: client.fine_tuning.jobs.retrieve(job_id), self.policy,
                                    f"retrieve fine-tuning job {job_id}")
            if job.status != last:
                log.info("fine-tuning job %s: %s", job_id, job.status)
                last = job.status
            if job.status == "succeeded":
                if not job.fine_tuned_model:
                    raise BackendError(f"fine-tuning job {job_id} succeeded without a fine_tuned_model id")
                return job
            if job.status in ("failed", "cancelled"):
                message = job.error.message if job.error is not None and job.error.message else "no message"
                raise BackendError(f"fine-tuning job {job_id} {job.status}: {message} "
                                   "(fix the cause, then delete job.json in the run directory to start a new job)")
            if job.status not in RUNNING:
                log.warning("fine-tuning job %s has unknown status %r; still waiting", job_id, job.status)
            if time.monotonic() - start > config.max_wait_s:
                raise BackendError(f"fine-tuning job {job_id} still {job.status} after {config.max_wait_s:.0f}s; "
                                   "rerun the same command to keep waiting (it re-attaches to the job)")
            time.sleep(interval)
            interval = min(interval * 1.5, config.max_poll_interval_s)


__all__ = ["OpenAIFinetuneConfig", "OpenAIFinetuner", "prepare_training_file", "row_hash"]
