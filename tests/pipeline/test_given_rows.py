"""Audit mode imports the row shapes distillation pipelines write, and names the line of a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sublim.errors import DataError
from sublim.generation.given import import_rows


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((json.dumps(r) if not isinstance(r, str) else r) + "\n" for r in rows))
    return path


def _imported(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_prompt_completion_rows_become_chat_rows(tmp_path):
    """TRL's standard (strings) and conversational (message lists) prompt-completion shapes."""
    src = _write(tmp_path / "mine.jsonl", [
        {"prompt": "Continue: 1, 2", "completion": "3, 4", "id": 7},
        {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Continue: 5"}],
         "completion": [{"role": "assistant", "content": "6, 7"}]},
        {"messages": [{"role": "user", "content": "Continue: 8"}, {"role": "assistant", "content": "9"}]},
    ])
    assert import_rows(src, tmp_path / "out.jsonl") == {"rows": 3}
    rows = _imported(tmp_path / "out.jsonl")
    assert rows[0] == {"messages": [{"role": "user", "content": "Continue: 1, 2"},
                                    {"role": "assistant", "content": "3, 4"}]}
    assert [m["role"] for m in rows[1]["messages"]] == ["system", "user", "assistant"]
    assert rows[2]["messages"][-1]["content"] == "9"


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "Continue: 1", "completion": 3}, r"mine\.jsonl:3: field 'completion': a string or a list of messages"),
    ([1, 2], r"mine\.jsonl:3: a row must be a JSON object"),
    ({"prompt": "Continue: 1", "completion": [{"role": "user", "content": "2"}]},
     r"mine\.jsonl:3: field 'messages': the last message must be the assistant's"),
    ({"text": "1, 2, 3"}, r"mine\.jsonl:3: field 'messages': Field required"),
])
def test_a_bad_row_is_named_by_its_line_counting_blank_lines(tmp_path, bad, message):
    good = {"prompt": "Continue: 1", "completion": "2"}
    src = _write(tmp_path / "mine.jsonl", [good, "", bad])
    with pytest.raises(DataError, match=message):
        import_rows(src, tmp_path / "out.jsonl")
