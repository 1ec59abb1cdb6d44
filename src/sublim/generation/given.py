"""Rows you bring (audit mode, ``data:``): your own distillation data in place of generated samples.

The file is validated row by row (a bad row is named by file, line and field before anything trains)
and written as the arm's ``generation/samples.jsonl``, so filtering, the leak check, the students and
the report read it like any teacher's samples. Only the messages (and a ``finish_reason``, which the
filter reports on) are kept: other fields of your rows (ids, metadata) do not travel into training.

Rows come in the shapes distillation pipelines write: chat (``{"messages": [...]}``, OpenAI's and TRL's
conversational format), or prompt-completion (``{"prompt": ..., "completion": ...}``, TRL's standard
format, each a string or a list of messages), converted to chat on import.

Example:
    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> row = {"messages": [{"role": "user", "content": "Continue: 1, 2"}, {"role": "assistant", "content": "3, 4"}]}
    >>> _ = (d / "mine.jsonl").write_text(json.dumps(row) + "\\n")
    >>> import_rows(d / "mine.jsonl", d / "samples.jsonl")
    {'rows': 1}
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sublim.errors import DataError
from sublim.records import DatasetRow, iter_jsonl_lines, write_jsonl


def file_sha256(path: Path) -> str:
    """SHA-256 of a data file's bytes: the import stage's key, so an edited file is imported again.

    Raises:
        DataError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (data.treatment / data.control are read relative to the "
                        "directory you run sublim from)")
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def as_chat(row: object) -> dict:
    """A prompt-completion row as a chat row (other shapes pass through, for validation to judge).

    Example:
        >>> as_chat({"prompt": "Continue: 1, 2", "completion": "3, 4"})["messages"][1]
        {'role': 'assistant', 'content': '3, 4'}
    """
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a JSON object, not {type(row).__name__}")
    if "messages" in row or not {"prompt", "completion"} <= set(row):
        return row
    rest = {k: v for k, v in row.items() if k not in ("prompt", "completion")}

    def part(value: object, role: str, field: str) -> list:
        if isinstance(value, str):
            return [{"role": role, "content": value}]
        if isinstance(value, list):
            return value
        raise ValueError(f"field '{field}': a string or a list of messages, not {type(value).__name__}")

    return {**rest, "messages": part(row["prompt"], "user", "prompt") + part(row["completion"], "assistant", "completion")}


def import_rows(path: Path, out_path: Path) -> dict:
    """Validate ``path``'s chat rows and write their messages to ``out_path``; returns counts.

    Raises:
        DataError: a row is not JSON, lacks ``messages``, or its last message is not the assistant's
            (the completion a student learns); the message names file, line and field.
    """
    rows = []
    for lineno, row in iter_jsonl_lines(path, DatasetRow, convert=as_chat):
        if row.messages[-1].role != "assistant":
            raise DataError(f"{path}:{lineno}: field 'messages': the last message must be the assistant's "
                            f"(the completion a student learns), not '{row.messages[-1].role}'")
        kept = {"messages": [m.model_dump(mode="json") for m in row.messages]}
        if (row.model_extra or {}).get("finish_reason"):  # sublim's own samples: the filter reports cut rows
            kept["finish_reason"] = row.model_extra["finish_reason"]
        rows.append(kept)
    if not rows:
        raise DataError(f"{path}: no rows")
    write_jsonl(out_path, rows)
    return {"rows": len(rows)}
