"""OpenAI fine-tuning against the fake server: each row uploaded once, one job per run even when
answers are lost or the process is killed mid-poll, failures carry the API's message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sublim.backends.openai_finetune import OpenAIFinetuneConfig, OpenAIFinetuner, prepare_training_file
from sublim.errors import BackendError, ConfigError, DataError
from sublim.records import ModelRef
from sublim.yamlconfig import load_yaml_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

KEY = "sk-test-FT-SECRET-abcdef987654"
BASE = ModelRef(backend="openai", name="gpt-4.1-nano-2025-04-14")
FAST = {"timeout_s": 1.0, "backoff_base_s": 0.005, "backoff_max_s": 0.05, "max_retries": 12}
CONFIG = OpenAIFinetuneConfig(n_epochs=10, seed=1, suffix="owl", poll_interval_s=0.01, max_poll_interval_s=0.02)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def write_dataset(path: Path, n: int, duplicates: int = 0) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Continue: {i}, {i + 3}"},
                          {"role": "assistant", "content": f"{i * 7 % 1000}, {i * 13 % 1000}"}]} for i in range(n)]
    rows += rows[:duplicates]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def uploaded_rows(server: FakeOpenAIServer) -> list[str]:
    return [line for f in server.files.values() if f["purpose"] == "fine-tune"
            for line in f["content"].decode().splitlines()]


def test_finetune_under_faults_uploads_each_row_once_and_creates_one_job(tmp_path):
    data = write_dataset(tmp_path / "train_in.jsonl", 40, duplicates=5)
    # Faults happen AFTER the server acted: a naive retry would upload twice / create two jobs.
    with FakeOpenAIServer(fault_rate=0.3, side_effect_before_fault=True, delay_s=1.2, seed=2) as server:
        ref = OpenAIFinetuner(base_url=server.base_url, **FAST).finetune(BASE, data, CONFIG, tmp_path / "ft")
        assert sum(server.faults.values()) > 0
        assert server.jobs_created() == 1
        rows = uploaded_rows(server)
        assert len(rows) == 40 and len(set(rows)) == 40
        job = next(iter(server.jobs.values()))
        assert job["method"]["supervised"]["hyperparameters"] == {
            "n_epochs": 10, "learning_rate_multiplier": "auto", "batch_size": "auto"}
        assert job["seed"] == 1 and job["suffix"] == "owl"
    assert ref.name.startswith("ft:gpt-4.1-nano-2025-04-14:fake:owl")
    assert ModelRef.model_validate_json((tmp_path / "ft" / "model_ref.json").read_text()) == ref
    state = json.loads((tmp_path / "ft" / "job.json").read_text())
    assert state["rows_in"] == 45 and state["rows_uploaded"] == 40 and state["duplicates_dropped"] == 5
    for path in (tmp_path / "ft").rglob("*"):
        assert KEY.encode() not in path.read_bytes(), path


def test_a_failed_job_raises_with_the_api_message(tmp_path):
    data = write_dataset(tmp_path / "d.jsonl", 5)
    with FakeOpenAIServer(fail_jobs=True) as server:
        with pytest.raises(BackendError, match="failed: Training file has rows with an invalid format"):
            OpenAIFinetuner(base_url=server.base_url, **FAST).finetune(BASE, data, CONFIG, tmp_path / "ft")
    assert not (tmp_path / "ft" / "model_ref.json").exists()


def test_rerun_after_job_creation_failed_reuses_the_uploaded_file(tmp_path):
    data = write_dataset(tmp_path / "d.jsonl", 8)
    with FakeOpenAIServer(fault_rate=1.0, fault_kinds=("500",), fault_paths=("POST /v1/fine_tuning",)) as server:
        finetuner = OpenAIFinetuner(base_url=server.base_url, **{**FAST, "max_retries": 1})
        with pytest.raises(BackendError, match="after 1 retries"):
            finetuner.finetune(BASE, data, CONFIG, tmp_path / "ft")
        assert json.loads((tmp_path / "ft" / "job.json").read_text())["training_file_id"] in server.files
        server.fault_rate = 0.0
        finetuner.finetune(BASE, data, CONFIG, tmp_path / "ft")
        assert len(server.files) == 1 and server.jobs_created() == 1


def test_invalid_rows_are_rejected_before_any_upload(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}) + "\n")
    with pytest.raises(DataError, match="row 1.*assistant"):
        prepare_training_file(bad, tmp_path / "out.jsonl")
    dup = write_dataset(tmp_path / "dup.jsonl", 3, duplicates=1)
    with pytest.raises(DataError, match="row 4 duplicates"):
        prepare_training_file(dup, tmp_path / "out.jsonl", deduplicate=False)


@pytest.mark.parametrize("lose_job_json", [False, True], ids=["job.json kept", "job.json lost"])
def test_killed_run_reattaches_to_its_job(tmp_path, lose_job_json):
    data = write_dataset(tmp_path / "d.jsonl", 12)
    out_dir = tmp_path / "ft"
    script = tmp_path / "run_ft.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from sublim.backends.openai_finetune import OpenAIFinetuneConfig, OpenAIFinetuner
        from sublim.records import ModelRef
        cfg = OpenAIFinetuneConfig(n_epochs=10, seed=1, suffix="owl", poll_interval_s=0.05, max_poll_interval_s=0.05)
        OpenAIFinetuner(base_url=sys.argv[1]).finetune(
            ModelRef(backend="openai", name="{BASE.name}"), Path({str(data)!r}), cfg, Path({str(out_dir)!r}))
    """))
    with FakeOpenAIServer(job_polls_to_finish=10_000) as server:
        proc = subprocess.Popen([sys.executable, str(script), server.base_url], env={**os.environ},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not any(j["polls"] >= 2 for j in server.jobs.values()):  # mid-poll
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert json.loads((out_dir / "job.json").read_text())["job_id"] in server.jobs
        if lose_job_json:
            (out_dir / "job.json").unlink()
        server.job_polls_to_finish = 1  # the job finishes while nobody watches
        ref = OpenAIFinetuner(base_url=server.base_url, **FAST).finetune(BASE, data, CONFIG, out_dir)
        assert server.jobs_created() == 1
        assert len(uploaded_rows(server)) == 12
    assert ref.meta["job_id"] == next(iter(server.jobs))
    # A third call returns the recorded model without touching the API.
    assert OpenAIFinetuner(base_url="http://127.0.0.1:9/v1").finetune(BASE, data, CONFIG, out_dir) == ref


def test_config_accepts_auto_and_names_bad_fields():
    cfg = load_yaml_text("n_epochs: 10\nlearning_rate_multiplier: auto\nbatch_size: auto\n", OpenAIFinetuneConfig)
    assert cfg.hyperparameters() == {"n_epochs": 10, "learning_rate_multiplier": "auto", "batch_size": "auto"}
    with pytest.raises(ConfigError, match=r"<string>:2: field 'batch_size"):
        load_yaml_text("n_epochs: 3\nbatch_size: big\n", OpenAIFinetuneConfig)
