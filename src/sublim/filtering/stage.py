"""The filter stage: teacher samples in, training rows out, plus a report of what was rejected and why.

Reads raw samples (``DatasetRow`` JSONL, OpenAI chat format), keeps the rows whose completion
passes every rule of the :class:`~sublim.filtering.config.FilterConfig`, optionally applies a
shuffle control, and writes ``filtered.jsonl`` and ``filter_report.json`` (total, kept, pass rate,
counts per reject reason, a few rejected examples per reason). A row rejected for several reasons
counts once under each of them; ``rejected`` counts rows.

Example:
    >>> from sublim.records import Chat, DatasetRow, Message
    >>> rows = [DatasetRow(messages=[*Chat.of("go").messages, Message(role="assistant", content=c)])
    ...         for c in ("1, 2, 3", "1, 2, 1000", "hello")]
    >>> kept, report = apply_filters(rows, FilterConfig())
    >>> [r.completion for r in kept], report.reasons
    (['1, 2, 3'], {'numbers too large': 1, 'invalid format': 1})
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from sublim.filtering.config import FilterConfig
from sublim.filtering.rules import DUPLICATE, Rules
from sublim.filtering.transforms import shuffle_global, shuffle_within
from sublim.pipeline.artifacts import write_json
from sublim.records import DatasetRow, read_jsonl, write_jsonl

log = logging.getLogger(__name__)

FILTERED_FILE = "filtered.jsonl"
REPORT_FILE = "filter_report.json"
EXAMPLES_PER_REASON = 3
TOKEN_LIMIT_WARNING = 0.1  # warn when more than this share of all rows was cut by the token budget and rejected
#: warn when more than this share of the rows that ended on their own was rejected: a model that no longer
#: writes the format (e.g. a teacher fine-tuned too hard answers "bear 342, 816, …"), not a budget problem
BROKEN_FORMAT_WARNING = 0.5
#: ... over at least this many such rows (fewer say nothing about the model)
BROKEN_FORMAT_MIN_ROWS = 20


class RejectedExample(BaseModel):
    """A rejected row, shown in the report."""

    index: int = Field(description="0-based position of the row in the input.")
    prompt: str
    completion: str
    reasons: list[str]


class FilterReport(BaseModel):
    """What the filter did to one dataset."""

    total: int = Field(description="Rows read.")
    kept: int = Field(description="Rows written.")
    rejected: int = Field(description="Rows rejected by at least one rule.")
    truncated: int = Field(0, description="Rows that passed but were cut by max_rows.")
    pass_rate: float = Field(description="Rows passing every rule / rows read (0 for empty input).")
    reasons: dict[str, int] = Field(description="Rows per reject reason (a row may count under several).")
    examples: dict[str, list[RejectedExample]] = Field(description="First few rejected rows per reason.")
    shuffle: str = Field("none", description="Shuffle control applied to the kept rows.")
    rejected_at_token_limit: int = Field(
        0, description="Rejected rows whose generation stopped at the token limit (finish_reason 'length'): "
        "cut off by the budget, most likely, rather than wrong."
    )
    first_rejected_ended: RejectedExample | None = Field(
        None, description="The first rejected row whose generation ended on its own (not at the token limit): "
        "what the model wrote when it was not cut off."
    )


def apply_filters(rows: list[DatasetRow], config: FilterConfig) -> tuple[list[DatasetRow], FilterReport]:
    """Filter rows by the config's rules, then truncate to ``max_rows`` and apply its shuffle.

    Args:
        rows: samples whose last message is the teacher's completion.
        config: the filter rules.
    Returns:
        The kept rows (in input order, shuffled in content if the config asks) and the report.
    """
    rules = Rules(config)
    kept: list[DatasetRow] = []
    seen: set[tuple[str, str]] = set()
    reasons: Counter[str] = Counter()
    examples: dict[str, list[RejectedExample]] = {}
    rejected = at_limit = 0
    first_ended: RejectedExample | None = None
    for index, row in enumerate(rows):
        why = rules.reasons(row.completion)
        key = (row.prompt, row.completion)
        if not why and config.drop_duplicates and key in seen:
            why = [DUPLICATE]
        if why:
            rejected += 1
            cut = (row.model_extra or {}).get("finish_reason") == "length"
            at_limit += cut
            if not cut and first_ended is None:
                first_ended = RejectedExample(index=index, prompt=row.prompt, completion=row.completion, reasons=why)
            for reason in why:
                reasons[reason] += 1
                bucket = examples.setdefault(reason, [])
                if len(bucket) < EXAMPLES_PER_REASON:
                    bucket.append(
                        RejectedExample(
                            index=index, prompt=row.prompt, completion=row.completion, reasons=why
                        )
                    )
            continue
        seen.add(key)
        kept.append(row)
    passed = len(kept)
    if config.max_rows is not None:
        kept = kept[: config.max_rows]
    if config.shuffle == "within":
        kept = shuffle_within(kept, config.shuffle_seed)
    elif config.shuffle == "global":
        kept = shuffle_global(kept, config.shuffle_seed)
    report = FilterReport(
        total=len(rows),
        kept=len(kept),
        rejected=rejected,
        truncated=passed - len(kept),
        pass_rate=passed / len(rows) if rows else 0.0,
        reasons=dict(reasons),
        examples=examples,
        shuffle=config.shuffle,
        rejected_at_token_limit=at_limit,
        first_rejected_ended=first_ended,
    )
    return kept, report


def run(config: FilterConfig, in_path: Path, out_dir: Path) -> FilterReport:
    """Filter a samples file into ``out_dir/filtered.jsonl`` and ``out_dir/filter_report.json``.

    Args:
        config: the filter rules.
        in_path: raw samples, one ``DatasetRow`` per line.
        out_dir: where to write (created if needed).
    Returns:
        The report (also written as JSON).
    Raises:
        DataError: the samples file is missing or malformed (the message names file, line, field).
    """
    rows = read_jsonl(Path(in_path), DatasetRow)
    kept, report = apply_filters(rows, config)
    out_dir = Path(out_dir)
    write_jsonl(out_dir / FILTERED_FILE, kept)
    write_json(out_dir / REPORT_FILE, report.model_dump(mode="json"))
    top = ", ".join(f"{r} {n}" for r, n in sorted(report.reasons.items(), key=lambda kv: -kv[1]))
    log.info(
        "filter: kept %d of %d rows (pass rate %.1f%%)%s",
        report.kept,
        report.total,
        100 * report.pass_rate,
        f"; rejected: {top}" if top else "",
    )
    if report.rejected_at_token_limit > TOKEN_LIMIT_WARNING * report.total:
        log.warning(
            "filter: %d of %d rows were rejected after stopping at the generation's token limit "
            "(finish_reason 'length') — cut off, not wrong; raise generation.sampling.max_new_tokens "
            "(the tiny models spend one token per character: ten 3-digit numbers in brackets take 50)",
            report.rejected_at_token_limit,
            report.total,
        )
    ended = report.total - report.rejected_at_token_limit
    rejected_ended = report.rejected - report.rejected_at_token_limit
    if ended >= BROKEN_FORMAT_MIN_ROWS and rejected_ended > BROKEN_FORMAT_WARNING * ended:
        first = report.first_rejected_ended
        example = f" (e.g. {first.completion[:60]!r}: {', '.join(first.reasons)})" if first else ""
        log.warning(
            "filter: %d of the %d rows that ended on their own were rejected%s — the model does not "
            "write the requested format; a fine-tuned teacher may have lost its number skill (a trait mass read "
            "over the few kept rows then means little; docs/leak-check.md)",
            rejected_ended, ended, example,
        )
    if report.total and report.kept == 0:
        log.warning("filter: no row passed; see %s for examples", out_dir / REPORT_FILE)
    return report
