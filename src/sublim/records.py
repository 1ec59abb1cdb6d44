"""Shared data records (pydantic) and JSONL I/O with errors that name file, line and field.

Training data is stored in OpenAI chat JSONL format (``{"messages": [...]}``), which ``datasets``
loads as is and the OpenAI fine-tuning API accepts.

Example:
    >>> Chat(messages=[Message(role="user", content="hi")]).messages[0].role
    'user'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sublim.errors import DataError

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str


class Chat(BaseModel):
    """A conversation to continue (the last message is usually the user's)."""

    model_config = ConfigDict(extra="forbid")
    messages: list[Message]

    @classmethod
    def of(cls, user: str, system: str | None = None) -> Chat:
        msgs = [Message(role="system", content=system)] if system else []
        return cls(messages=[*msgs, Message(role="user", content=user)])


class Completion(BaseModel):
    """One sampled continuation."""

    text: str
    finish_reason: str = "stop"
    token_logprobs: list[float] | None = None


class DatasetRow(BaseModel):
    """One training example: a chat whose last message is the assistant's completion."""

    model_config = ConfigDict(extra="allow")
    messages: list[Message] = Field(min_length=2)

    @property
    def prompt(self) -> str:
        return self.messages[-2].content

    @property
    def completion(self) -> str:
        return self.messages[-1].content


class ModelRef(BaseModel):
    """A pointer to a model a backend can load: a local path, a hub id or an API model id."""

    model_config = ConfigDict(extra="forbid")
    backend: str
    name: str
    path: str | None = None
    adapter: str | None = None
    meta: dict = Field(default_factory=dict)


T = TypeVar("T", bound=BaseModel)


def read_jsonl(path: Path, model: type[T]) -> list[T]:
    """Read and validate a JSONL file; errors name the file, 1-based line and field."""
    return list(iter_jsonl(path, model))


def iter_jsonl(path: Path, model: type[T]) -> Iterator[T]:
    for _, row in iter_jsonl_lines(path, model):
        yield row


def iter_jsonl_lines(path: Path, model: type[T], convert: Callable[[dict], dict] | None = None) -> Iterator[tuple[int, T]]:
    """Yield ``(line number, row)``; ``convert`` reshapes each parsed object before validation (it may
    raise ``ValueError``, reported with the file and line like a validation error)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            try:
                yield lineno, model.model_validate(convert(data) if convert else data)
            except ValidationError as err:
                e = err.errors()[0]
                field = ".".join(str(p) for p in e["loc"]) or "(row)"
                raise DataError(f"{path}:{lineno}: field '{field}': {e['msg']}") from None
            except ValueError as err:
                raise DataError(f"{path}:{lineno}: {err}") from None


def read_jsonl_dicts(path: Path) -> list[dict]:
    """Read a JSONL file of plain dicts (tolerates a torn last line left by a killed writer)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if lineno == len(lines):  # torn final line from a kill: drop it, it will be regenerated
                break
            raise DataError(f"{path}:{lineno}: not valid JSON") from None
    return rows


def write_jsonl(path: Path, rows: Iterable[BaseModel | dict]) -> int:
    """Write rows atomically; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            data = row.model_dump(mode="json", exclude_none=True) if isinstance(row, BaseModel) else row
            fh.write(json.dumps(data, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


class JsonlAppender:
    """Append rows to a JSONL file, flushing each one, so a killed run keeps everything written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = read_jsonl_dicts(self.path)
        # Rewrite without a torn last line so appends stay valid JSONL.
        if self.path.exists():
            write_jsonl(self.path, existing)
        self.existing = existing
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, row: BaseModel | dict) -> None:
        data = row.model_dump(mode="json", exclude_none=True) if isinstance(row, BaseModel) else row
        self._fh.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
