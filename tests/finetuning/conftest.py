"""Fixtures for fine-tuning tests: a small number-continuation dataset in chat JSONL format."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sublim.records import write_jsonl


def number_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        seeds = ", ".join(str(rng.randint(100, 999)) for _ in range(3))
        answer = ", ".join(str(rng.randint(100, 999)) for _ in range(rng.randint(2, 4)))
        rows.append({"messages": [{"role": "user", "content": f"Continue: {seeds}"},
                                  {"role": "assistant", "content": answer}]})
    return rows


@pytest.fixture(scope="session")
def numbers_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "numbers.jsonl"
    write_jsonl(path, number_rows(96))
    return path
