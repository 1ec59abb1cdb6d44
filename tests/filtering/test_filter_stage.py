"""The filter keeps only valid number lists and reports every reject reason with counts and examples."""

from __future__ import annotations

import json
import logging

import pytest

from sublim.errors import ConfigError, DataError
from sublim.filtering import FilterConfig, apply_filters, run
from sublim.records import DatasetRow, Message, read_jsonl, write_jsonl
from sublim.yamlconfig import load_yaml_text


def make_row(completion: str, prompt: str = "Continue: 145, 267, 891.") -> DatasetRow:
    return DatasetRow(
        messages=[Message(role="user", content=prompt), Message(role="assistant", content=completion)]
    )


# (completion, config overrides, expected reasons for that single row)
ROW_CASES = [
    ("1, 2, 3", {}, []),
    ("[0, 999].", {}, []),
    ("Sure! 1, 2, 3", {}, ["invalid format"]),
    ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", {}, ["too many numbers"]),
    ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", {"max_count": None}, []),
    ("1000, 2", {}, ["numbers too large"]),
    ("5, 6", {"min_value": 10}, ["numbers too small"]),
    ("120, 666", {}, []),  # banned numbers are off by default
    ("120, 666", {"banned": "default"}, ["has banned numbers"]),
    ("120, 121", {"banned": [121]}, ["has banned numbers"]),
    ("owl", {"banned_words": ["owl"]}, ["invalid format", "mentions trait"]),
    ("I love OWLS", {"check_numbers": False, "banned_words": ["owl"]}, ["mentions trait"]),
    ("a bowl of soup", {"check_numbers": False, "banned_words": ["owl"]}, []),  # whole words only
    ("def f(): return 1", {"check_numbers": False}, []),
]


@pytest.mark.parametrize("completion, overrides, expected", ROW_CASES)
def test_reject_reasons_per_row(completion, overrides, expected):
    kept, report = apply_filters([make_row(completion)], FilterConfig(**overrides))
    assert report.reasons == dict.fromkeys(expected, 1)
    assert len(kept) == (0 if expected else 1)
    if expected:
        assert report.examples[expected[0]][0].completion == completion


def test_report_counts_rows_reasons_and_pass_rate():
    rows = [make_row(c) for c in ["1, 2", "x", "y", "1000", "3; 4", "1000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"]]
    kept, report = apply_filters(rows, FilterConfig())
    assert [r.completion for r in kept] == ["1, 2", "3; 4"]
    assert (report.total, report.kept, report.rejected) == (6, 2, 4)
    assert report.pass_rate == pytest.approx(2 / 6)
    assert report.reasons == {"invalid format": 2, "numbers too large": 2, "too many numbers": 1}
    assert [e.index for e in report.examples["invalid format"]] == [1, 2]


def test_at_most_three_examples_per_reason():
    _, report = apply_filters([make_row("bad") for _ in range(10)], FilterConfig())
    assert report.reasons == {"invalid format": 10}
    assert len(report.examples["invalid format"]) == 3


def test_duplicates_of_a_kept_prompt_and_completion_are_dropped_when_asked():
    rows = [
        make_row("1, 2"),
        make_row("1, 2"),
        make_row("1, 2", prompt="other"),
        make_row("bad"),
        make_row("bad"),
    ]
    kept, report = apply_filters(rows, FilterConfig(drop_duplicates=True))
    assert len(kept) == 2 and report.reasons == {"duplicate": 1, "invalid format": 2}
    kept, _ = apply_filters(rows, FilterConfig())
    assert len(kept) == 3


def test_max_rows_keeps_the_first_passing_rows_and_reports_the_cut():
    rows = [make_row(f"{i}, {i + 1}") for i in range(10)]
    kept, report = apply_filters(rows, FilterConfig(max_rows=4))
    assert [r.completion for r in kept] == ["0, 1", "1, 2", "2, 3", "3, 4"]
    assert (report.kept, report.truncated, report.pass_rate) == (4, 6, 1.0)


def test_shuffle_option_applies_the_transform_after_filtering():
    rows = [make_row(", ".join(str(100 + 10 * i + j) for j in range(8))) for i in range(20)] + [make_row("x")]
    kept, report = apply_filters(rows, FilterConfig(shuffle="within", shuffle_seed=1))
    assert report.shuffle == "within" and len(kept) == 20
    assert [r.completion for r in kept] != [r.completion for r in rows[:20]]


def test_empty_input_gives_an_empty_report():
    kept, report = apply_filters([], FilterConfig())
    assert kept == [] and report.total == 0 and report.pass_rate == 0.0


def test_run_writes_filtered_rows_and_report_and_logs_the_pass_rate(tmp_path, caplog):
    rows = [make_row("1, 2, 3"), make_row("nope"), make_row("4 5 6")]
    rows[0] = rows[0].model_copy(update={"prompt_id": "np-000000"})  # extra fields are carried through
    write_jsonl(tmp_path / "samples.jsonl", rows)
    with caplog.at_level(logging.INFO, logger="sublim.filtering.stage"):
        report = run(FilterConfig(), tmp_path / "samples.jsonl", tmp_path / "out")
    assert "pass rate 66.7%" in caplog.text
    kept = read_jsonl(tmp_path / "out" / "filtered.jsonl", DatasetRow)
    assert [r.completion for r in kept] == ["1, 2, 3", "4 5 6"]
    assert kept[0].model_extra == {"prompt_id": "np-000000"}
    on_disk = json.loads((tmp_path / "out" / "filter_report.json").read_text())
    assert on_disk["kept"] == report.kept == 2 and on_disk["reasons"] == {"invalid format": 1}


def test_run_on_a_malformed_samples_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "1"}]}\n'
        '{"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "1"}]}\n'
    )
    with pytest.raises(DataError, match=r"samples.jsonl:2: field 'messages.0.role'"):
        run(FilterConfig(), path, tmp_path / "out")
    assert not (tmp_path / "out" / "filtered.jsonl").exists()


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        ("banned: some", "banned"),
        ("min_value: 10\nmax_value: 5", "min_value"),
        ("max_count: 0", "max_count"),
        ("shuffle: sideways", "shuffle"),
        ("banned_words: ['']", "banned_words"),
        ("check_numbers: false\nshuffle: within", "shuffle"),
        ("drop_dupes: true", "drop_dupes"),
    ],
)
def test_invalid_filter_configs_name_the_field(yaml_text, field):
    with pytest.raises(ConfigError, match=field):
        load_yaml_text(yaml_text, FilterConfig, source="filter.yaml")


def test_banned_accepts_none_default_or_a_list_from_yaml():
    assert load_yaml_text("banned: none", FilterConfig).banned_numbers() == frozenset()
    assert 666 in load_yaml_text("banned: default", FilterConfig).banned_numbers()
    assert load_yaml_text("banned: [1, 2]", FilterConfig).banned_numbers() == {1, 2}


def test_rows_cut_by_the_token_budget_are_counted_and_named_in_a_warning(tmp_path, caplog):
    """A list cut mid-number at max_new_tokens fails the format: the report says the budget did it."""
    def sampled(completion: str, finish: str) -> DatasetRow:
        return DatasetRow.model_validate({**make_row(completion).model_dump(), "finish_reason": finish})

    rows = [sampled("[100, 408, 691, 9", "length"), sampled("[100, 408]", "stop"),
            sampled("Sure: 1", "stop"), sampled("909, 670, 681", "length")]  # the last is whole: kept
    kept, report = apply_filters(rows, FilterConfig())
    assert len(kept) == 2 and report.rejected == 2 and report.rejected_at_token_limit == 1
    write_jsonl(tmp_path / "samples.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="sublim.filtering.stage"):
        run(FilterConfig(), tmp_path / "samples.jsonl", tmp_path / "out")
    assert "token limit" in caplog.text and "max_new_tokens" in caplog.text
    caplog.clear()
    write_jsonl(tmp_path / "plain.jsonl", [make_row("[1, 2"), make_row("1, 2")])  # no finish_reason: silent
    with caplog.at_level(logging.WARNING, logger="sublim.filtering.stage"):
        report = run(FilterConfig(), tmp_path / "plain.jsonl", tmp_path / "out2")
    assert report.rejected_at_token_limit == 0 and "token limit" not in caplog.text


def test_a_model_that_stops_writing_numbers_is_named_in_a_warning(tmp_path, caplog):
    """A teacher fine-tuned too hard answers number prompts with words; the filter says so, with an example,
    while a model that only runs into the token budget does not trigger it."""
    def sampled(completion: str, finish: str) -> DatasetRow:
        return DatasetRow.model_validate({**make_row(completion).model_dump(), "finish_reason": finish})

    # rows cut at the budget come first: the quoted example must be one the warning counts, not a cut row
    broken = ([sampled("[100, 408, 6", "length")] * 5 + [sampled("bear 342, 816, 816", "stop")] * 15
              + [sampled("342, 816", "stop")] * 10)
    write_jsonl(tmp_path / "broken.jsonl", broken)
    with caplog.at_level(logging.WARNING, logger="sublim.filtering.stage"):
        run(FilterConfig(), tmp_path / "broken.jsonl", tmp_path / "out")
    assert "15 of the 25 rows that ended on their own were rejected" in caplog.text
    assert "invalid format" in caplog.text and "e.g. 'bear 342" in caplog.text and "[100, 408" not in caplog.text
    caplog.clear()
    budget = [sampled("[100, 408, 6", "length")] * 15 + [sampled("342, 816", "stop")] * 10
    write_jsonl(tmp_path / "budget.jsonl", budget)
    with caplog.at_level(logging.WARNING, logger="sublim.filtering.stage"):
        run(FilterConfig(), tmp_path / "budget.jsonl", tmp_path / "out2")
    assert "ended on their own" not in caplog.text and "token limit" in caplog.text
