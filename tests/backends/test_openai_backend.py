"""OpenAI backend against a local fake server that drops 30% of requests (429 / 500 / too slow).

Claims: every sample arrives exactly once despite faults; a crash never pays twice for a sample
(the cache serves reruns with zero requests); retries are bounded; client errors fail at once;
the API key is never written to disk.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from sublim.backends.base import SamplingParams, get_backend
from sublim.backends.openai import OpenAIBackend, request_seed
from sublim.errors import BackendError, CapabilityError, ConfigError
from sublim.records import Chat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_openai_server import FakeOpenAIServer, number_list_responder  # noqa: E402

KEY = "sk-test-NEVER-WRITE-ME-0123456789"
FAST = {"timeout_s": 1.0, "backoff_base_s": 0.005, "backoff_max_s": 0.05}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture
def faulty_server():
    with FakeOpenAIServer(fault_rate=0.3, delay_s=1.2, seed=1) as server:
        yield server


def chats(k: int) -> list[Chat]:
    return [Chat.of(f"Continue: {i}, {i + 7}, {i + 11}", system="You love owls.") for i in range(k)]


def expected_texts(cs: list[Chat], params: SamplingParams) -> list[str]:
    return [number_list_responder([m.model_dump() for m in c.messages], request_seed(params, j))
            for c in cs for j in range(params.n)]


@pytest.mark.parametrize("samples_per_request", [1, 3])
def test_every_sample_exactly_once_despite_faults_and_rerun_is_free(faulty_server, tmp_path, samples_per_request):
    cs, params = chats(20), SamplingParams(n=3, temperature=1.0, seed=5)
    cache = tmp_path / "cache.jsonl"
    with OpenAIBackend("gpt-fake", base_url=faulty_server.base_url, cache_path=cache, max_retries=12,
                       samples_per_request=samples_per_request, **FAST) as backend:
        out = backend.generate(cs, params)
    if samples_per_request == 1:
        assert [c.text for c in out] == expected_texts(cs, params)  # right sample in the right place
    assert len(out) == 60 and len({c.text for c in out}) == 60
    assert sum(faulty_server.faults.values()) > 0, "the fault injection must actually have fired"
    assert len(faulty_server.sample_delivered) == 60
    assert set(faulty_server.sample_delivered.values()) == {1}, "some sample was paid for twice"
    assert len(cache.read_text().splitlines()) == 60

    before = sum(faulty_server.requests.values())
    with OpenAIBackend("gpt-fake", base_url=faulty_server.base_url, cache_path=cache, **FAST) as again:
        out2 = again.generate(cs, params)
    assert sum(faulty_server.requests.values()) == before, "a rerun must be served from the cache"
    assert [c.text for c in out2] == [c.text for c in out]


def test_crash_midway_never_pays_twice(tmp_path):
    cs, params = chats(30), SamplingParams(n=1)
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAIServer(fault_rate=0.1, fault_kinds=("500",), seed=1) as server:
        with pytest.raises(BackendError):  # no retries: the first fault (9th request) kills the run
            OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=cache, max_retries=0,
                          concurrency=1, **FAST).generate(cs, params)
        saved = len(cache.read_text().splitlines())
        assert saved == 8
        with OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=cache, max_retries=20, **FAST) as b:
            out = b.generate(cs, params)
            assert b.requests_sent == 30 - saved
    assert [c.text for c in out] == expected_texts(cs, params)
    assert set(server.sample_delivered.values()) == {1}


def test_torn_cache_line_from_a_kill_is_refetched(tmp_path):
    cs, params = chats(3), SamplingParams()
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAIServer() as server:
        OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=cache, **FAST).generate(cs, params)
        lines = cache.read_text().splitlines()
        cache.write_text("\n".join(lines[:2]) + "\n" + lines[2][:15])  # killed while writing line 3
        b = OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=cache, **FAST)
        assert [c.text for c in b.generate(cs, params)] == expected_texts(cs, params)
        assert b.requests_sent == 1


def test_retries_are_bounded_on_an_always_failing_server(tmp_path):
    with FakeOpenAIServer(fault_rate=1.0, fault_kinds=("500",)) as server:
        backend = OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=tmp_path / "c.jsonl",
                                max_retries=4, concurrency=1, **FAST)
        start = time.monotonic()
        with pytest.raises(BackendError, match="after 4 retries.*500"):
            backend.generate(chats(1), SamplingParams())
        assert time.monotonic() - start < 5
        assert server.requests["POST /v1/chat/completions"] == 5


def test_retries_are_bounded_when_every_request_times_out(tmp_path):
    with FakeOpenAIServer(fault_rate=1.0, fault_kinds=("delay",), delay_s=0.6) as server:
        backend = OpenAIBackend("gpt-fake", base_url=server.base_url, cache_path=tmp_path / "c.jsonl",
                                max_retries=2, concurrency=1, timeout_s=0.2, backoff_base_s=0.005, backoff_max_s=0.05)
        start = time.monotonic()
        with pytest.raises(BackendError, match="after 2 retries.*Timeout"):
            backend.generate(chats(1), SamplingParams())
        assert time.monotonic() - start < 3
        assert server.requests["POST /v1/chat/completions"] == 3


def test_client_errors_are_not_retried(tmp_path):
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("missing-model", base_url=server.base_url, cache_path=tmp_path / "c.jsonl", **FAST)
        with pytest.raises(BackendError, match="404.*does not exist"):
            backend.generate(chats(1), SamplingParams())
        assert server.requests["POST /v1/chat/completions"] == 1


def test_missing_key_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-fake", base_url="http://127.0.0.1:9/v1", cache_path=tmp_path / "c.jsonl").generate(
            chats(1), SamplingParams())


def test_score_is_not_offered_and_registry_routes(tmp_path):
    backend = get_backend("openai/gpt-4.1-nano", cache_path=tmp_path / "c.jsonl")
    assert isinstance(backend, OpenAIBackend) and backend.name == "openai/gpt-4.1-nano"
    with pytest.raises(CapabilityError, match="log-probabilities"):
        backend.score(chats(1), ["owl"])
    assert KEY not in repr(backend)


def test_api_key_sent_but_never_written(faulty_server, tmp_path):
    run_dir = tmp_path / "run"
    with OpenAIBackend("gpt-fake", base_url=faulty_server.base_url, cache_path=run_dir / "cache.jsonl",
                       max_retries=12, **FAST) as backend:
        backend.generate(chats(10), SamplingParams(n=2))
    assert any(h.get("authorization") == f"Bearer {KEY}" for h in faulty_server.headers_seen)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
