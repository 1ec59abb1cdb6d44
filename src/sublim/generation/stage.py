"""Generation stage: sample the teacher's answers to seeded number prompts.

The teacher sees its system prompt; the saved rows do not — each row is the user prompt and the
assistant completion only, in OpenAI chat JSONL (``{"id", "messages", "finish_reason"}``), which
``datasets.load_dataset("json", ...)`` and the OpenAI fine-tuning API both read.

Resumable and reproducible: prompts are cut into fixed chunks of ``batch_size`` by prompt index, and
chunk ``k`` is sampled with seed ``hash(seed, k)``; rows are appended to ``samples.jsonl`` as each
chunk finishes, and a rerun skips prompt ids already written. A killed run therefore loses at most one
chunk and regenerates it identically.

Example (with any backend):
    >>> # generate_samples(GenerationConfig(n_prompts=10), teacher, backend, seed=0, out_path=Path("s.jsonl"))
"""

from __future__ import annotations

import logging
from pathlib import Path

from sublim.backends.base import ModelBackend
from sublim.config import GenerationConfig
from sublim.numbers import generate_prompts
from sublim.progress import progress_bar
from sublim.records import Chat, JsonlAppender
from sublim.teacher.stage import TeacherRef
from sublim.yamlconfig import config_hash

log = logging.getLogger(__name__)


def chunk_seed(seed: int, chunk: int) -> int:
    """Seed of one chunk: stable, independent of how many chunks ran before."""
    return int(config_hash({"seed": seed, "chunk": chunk}), 16) % (2**31)


def generate_samples(
    config: GenerationConfig, teacher: TeacherRef, backend: ModelBackend, seed: int, out_path: Path
) -> dict:
    """Sample ``config.n_prompts`` teacher completions into ``out_path``; returns counts."""
    prompts = generate_prompts(config.n_prompts, seed=seed, config=config.prompts)
    size = config.batch_size
    chunks = [prompts[i : i + size] for i in range(0, len(prompts), size)]
    with JsonlAppender(out_path) as out:
        done = {row["id"] for row in out.existing}
        todo = [(k, c) for k, c in enumerate(chunks) if any(p.id not in done for p in c)]
        if done:
            log.info("resuming generation: %d rows already written, %d chunks left", len(done), len(todo))
        with progress_bar("generating", total=len(prompts), completed=len(prompts) - sum(len(c) for _, c in todo)) as bar:
            for k, chunk in todo:
                chats = [Chat.of(p.text, system=teacher.system_prompt) for p in chunk]
                params = config.sampling.model_copy(update={"seed": chunk_seed(seed, k), "n": 1})
                completions = backend.generate(chats, params)
                for prompt, completion in zip(chunk, completions, strict=True):
                    if prompt.id in done:
                        continue
                    out.append(
                        {
                            "id": prompt.id,
                            "messages": [
                                {"role": "user", "content": prompt.text},
                                {"role": "assistant", "content": completion.text},
                            ],
                            "finish_reason": completion.finish_reason,
                        }
                    )
                bar.advance(len(chunk))
    return {"prompts": len(prompts), "rows": len(prompts)}
