"""Rows you bring (audit mode, ``data:``): your own distillation data in place of generated samples.

The file is validated row by row (a bad row is named by file, line and field before anything trains)
and written as the arm's ``generation/samples.jsonl``, so filtering, the leak check, the students and
the report read it like any teacher's samples. Only the messages (and a ``finish_reason``, which the
filter reports on) are kept: other fields of your rows (ids, metadata) do not travel into training.

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
from sublim.records import DatasetRow, iter_jsonl, write_jsonl


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


def import_rows(path: Path, out_path: Path) -> dict:
    """Validate ``path``'s chat rows and write their messages to ``out_path``; returns counts.

    Raises:
        DataError: a row is not JSON, lacks ``messages``, or its last message is not the assistant's
            (the completion a student learns); the message names file, line and field.
    """
    rows = []
    for lineno, row in enumerate(iter_jsonl(path, DatasetRow), start=1):
        if row.messages[-1].role != "assistant":
            raise DataError(f"{path}: row {lineno}: field 'messages': the last message must be the assistant's "
                            f"(the completion a student learns), not '{row.messages[-1].role}'")
        kept = {"messages": [m.model_dump(mode="json") for m in row.messages]}
        if (row.model_extra or {}).get("finish_reason"):  # sublim's own samples: the filter reports cut rows
            kept["finish_reason"] = row.model_extra["finish_reason"]
        rows.append(kept)
    if not rows:
        raise DataError(f"{path}: no rows")
    write_jsonl(out_path, rows)
    return {"rows": len(rows)}
