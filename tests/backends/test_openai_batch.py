"""Batch API path: results land in the same cache as online sampling, items the batch could not
answer are fetched online, and a restarted run re-attaches to its batch instead of submitting again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sublim.backends.base import SamplingParams
from sublim.backends.openai import OpenAIBackend, request_seed
from sublim.backends.openai_batch import BatchSampler
from sublim.errors import BackendError
from sublim.records import Chat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_openai_server import FakeOpenAIServer, number_list_responder  # noqa: E402

KEY = "sk-test-BATCH-SECRET-424242"
FAST = {"timeout_s": 1.0, "backoff_base_s": 0.005, "backoff_max_s": 0.05, "max_retries": 12}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def chats(k: int) -> list[Chat]:
    return [Chat.of(f"List numbers after {i}") for i in range(k)]


def test_batch_results_fill_the_cache_and_failures_go_online(tmp_path):
    cs, params = chats(12), SamplingParams(n=2, seed=3)
    with FakeOpenAIServer(batch_error_every=5, fault_rate=0.2, side_effect_before_fault=True, seed=4) as server:
        backend = OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=tmp_path / "cache.jsonl", **FAST)
        out = BatchSampler(backend, tmp_path / "batches", poll_interval_s=0.01).generate(cs, params)
        assert len(server.batches) == 1
        online = server.requests["POST /v1/chat/completions"]
        assert online >= 24 // 5  # the 4 items the batch errored on were fetched online
    expected = [number_list_responder([m.model_dump() for m in c.messages], request_seed(params, j))
                for c in cs for j in range(params.n)]
    assert [c.text for c in out] == expected
    assert set(server.sample_delivered.values()) == {1}
    state = json.loads(next((tmp_path / "batches").glob("batch-*[0-9a-f].json")).read_text())
    assert state["served"] == 24 - 4 and state["status"] == "completed"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_restart_reattaches_to_the_submitted_batch(tmp_path):
    cs, params = chats(6), SamplingParams()
    with FakeOpenAIServer(batch_polls_to_finish=10_000) as server:
        backend = OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=tmp_path / "cache.jsonl", **FAST)
        impatient = BatchSampler(backend, tmp_path / "batches", poll_interval_s=0.01, max_wait_s=0.05)
        with pytest.raises(BackendError, match="still in_progress.*re-attaches"):
            impatient.generate(cs, params)
        server.batch_polls_to_finish = 1
        out = BatchSampler(backend, tmp_path / "batches", poll_interval_s=0.01).generate(cs, params)
        assert len(server.batches) == 1 and len(server.files) == 2  # one input, one output
        assert server.requests["POST /v1/chat/completions"] == 0
    assert len({c.text for c in out}) == 6
