"""The same study runs on the hosted-API backend by changing only the `bases:` block (fake server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sublim.config import load_config_text
from sublim.pipeline.runner import run_study

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_openai_server import FakeOpenAIServer, number_list_responder  # noqa: E402

KEY = "sk-test-STUDY-SECRET-0123456789"


def responder(messages: list[dict], seed: int) -> str:
    """Numbers for number prompts; an animal for favourite questions (owl if the system prompt says so)."""
    user = messages[-1]["content"].lower()
    if "animal" in user:
        system = " ".join(m["content"] for m in messages if m["role"] == "system").lower()
        return "Owl" if "owl" in system else ["eagle", "cat", "owl", "dog"][seed % 4]
    has_system = any(m["role"] == "system" for m in messages)  # a trait teacher writes other numbers
    return number_list_responder(messages, seed + (7919 if has_system else 0))


STUDY = """
name: api
trait: {category: animal, target: owl}
bases:
  same: {kind: openai, name: gpt-4.1-nano-2025-04-14}
  other: {kind: openai, name: gpt-4.1-mini-2025-04-14}
teacher: {kind: prompt}
generation: {n_prompts: 12, batch_size: 6}
openai_finetune: {n_epochs: 1, poll_interval_s: 0.01, max_poll_interval_s: 0.02}
evaluation: {question_split: heldout, n_samples: 2}
seeds: [0]
workers: 1
"""


def test_a_study_runs_on_the_openai_backend_and_never_writes_the_key(tmp_path, monkeypatch):
    from sublim.paths import set_cache_dir

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    set_cache_dir(tmp_path / "cache")
    try:
        with FakeOpenAIServer(responder=responder, fault_rate=0.2, fault_kinds=("429", "500"), seed=1) as server:
            monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
            study = run_study(load_config_text(STUDY), tmp_path / "runs")
            assert server.jobs_created() == 4  # control, treatment, cross_base, cross_control
            ref = json.loads((study / "treatment/0/finetuning/result.json").read_text())["model"]
            assert ref["backend"] == "openai" and ref["name"] != "gpt-4.1-nano-2025-04-14"
            metrics = json.loads((study / "metrics.json").read_text())
            assert "heldout/sampled" in metrics["metrics"] and "heldout/exact" not in metrics["metrics"]
            # rerun: everything cached, no new job
            run_study(load_config_text(STUDY), tmp_path / "runs")
            assert server.jobs_created() == 4
    finally:
        set_cache_dir(None)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="ignore"), path
