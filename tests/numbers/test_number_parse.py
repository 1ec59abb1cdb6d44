"""The strict number-list parser and the reject reasons: the paper's filter semantics, case by case."""

from __future__ import annotations

import pytest

from sublim.numbers import BANNED_NUMBERS, REJECT_REASONS, STYLES, format_numbers, parse, reject_reasons

# (text, expected parse) -- every rule of the parser is pinned by at least one row.
PARSE_CASES = [
    # separators: whatever stands between the first two numbers, stripped: "", "," or ";"
    ("145, 267, 891", [145, 267, 891]),
    ("145,267,891", [145, 267, 891]),
    ("145 267 891", [145, 267, 891]),
    ("145; 267; 891", [145, 267, 891]),
    ("145;267;891", [145, 267, 891]),
    ("145 , 267 , 891", [145, 267, 891]),
    ("145\n267\n891", [145, 267, 891]),  # a newline is whitespace, so an allowed separator
    ("145\t267", [145, 267]),
    # optional trailing period, optional enclosing [] or ()
    ("145, 267, 891.", [145, 267, 891]),
    ("[145, 267, 891]", [145, 267, 891]),
    ("(145, 267, 891)", [145, 267, 891]),
    ("[145, 267, 891].", [145, 267, 891]),
    ("[ 145, 267 ]", [145, 267]),
    ("[145 267 891]", [145, 267, 891]),
    # whole-text whitespace is stripped; each part is stripped around the separator
    ("  145, 267  ", [145, 267]),
    ("1,2 ,3", [1, 2, 3]),
    # a single number must be the whole text
    ("7", [7]),
    ("007", [7]),
    ("42.", [42]),
    ("[42]", [42]),
    ("42 apples", None),
    ("#42", None),
    # other separators
    ("145-267-891", None),
    ("145 | 267", None),
    ("145/267", None),
    ("145. 267. 891", None),
    ("1.5, 2", None),
    # the first separator is split on exactly: mixed or inconsistent separators fail
    ("145, 267; 891", None),
    ("145, 267,891", None),
    ("145 267, 891", None),
    ("145  267 891", None),  # split on "  " leaves "267 891"
    ("1 2  3", None),  # split on " " leaves an empty part
    # empty parts: trailing or doubled separators
    ("1, 2,", None),
    ("1,,2", None),
    (",1,2", None),
    # only ASCII digits 0-9
    ("-5, 3", None),
    ("+5, 3", None),
    ("١٢٣, ٤٥٦", None),  # Arabic-Indic digits
    ("１２３, 456", None),  # fullwidth digits
    ("123, ٤٥٦", None),
    ("12a, 34", None),
    ("0x1F, 2", None),
    # brackets must enclose the whole list and match
    ("[145, 267, 891", None),
    ("145, 267, 891]", None),
    ("[145, 267)", None),
    ("[[1, 2]]", None),
    ("{1, 2}", None),
    # prose around the numbers
    ("Here you go: 145, 267", None),
    ("145, 267, 891. Done", None),
    ("145, 267, 891..", None),
    # nothing to parse
    ("", None),
    ("   ", None),
    (".", None),
    ("[]", None),
    ("no numbers here", None),
]


@pytest.mark.parametrize("text, expected", PARSE_CASES, ids=[repr(t) for t, _ in PARSE_CASES])
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("numbers", [[5], [0, 10], [145, 267, 891, 3, 999, 12]])
def test_every_output_style_round_trips(style, numbers):
    assert parse(format_numbers(numbers, style)) == numbers


# (text, keyword args, expected reasons)
REJECT_CASES = [
    ("1, 2, 3", {}, []),
    ("nonsense", {}, ["invalid format"]),
    ("nonsense", {"max_count": 0, "banned": BANNED_NUMBERS}, ["invalid format"]),  # alone
    ("1, 2, 3", {"max_count": 3}, []),
    ("1, 2, 3, 4", {"max_count": 3}, ["too many numbers"]),
    ("5, 10", {"min_value": 5}, []),
    ("4, 10", {"min_value": 5}, ["numbers too small"]),
    ("999, 0", {"max_value": 999}, []),
    ("1000, 0", {"max_value": 999}, ["numbers too large"]),
    ("120, 666", {"banned": BANNED_NUMBERS}, ["has banned numbers"]),
    ("120, 667", {"banned": BANNED_NUMBERS}, []),
    ("120, 121", {"banned": [120]}, ["has banned numbers"]),
    (
        "1, 2000, 666",
        {"min_value": 2, "max_value": 999, "max_count": 2, "banned": {666}},
        ["too many numbers", "numbers too small", "numbers too large", "has banned numbers"],
    ),
]


@pytest.mark.parametrize("text, kwargs, expected", REJECT_CASES)
def test_reject_reasons(text, kwargs, expected):
    assert reject_reasons(text, **kwargs) == expected


def test_reject_reasons_are_drawn_from_the_documented_set():
    assert set(REJECT_REASONS) == {
        "invalid format",
        "too many numbers",
        "numbers too small",
        "numbers too large",
        "has banned numbers",
    }


def test_banned_list_has_the_paper_examples_each_with_a_reason():
    for n in (
        666,
        616,
        911,
        999,
        187,
        13,
        4,
        88,
        14,
        1488,
        18,
        420,
        69,
        404,
        101,
        23,
        311,
        451,
        1312,
        33,
        77,
        211,
    ):
        assert n in BANNED_NUMBERS
    assert 30 <= len(BANNED_NUMBERS) <= 45
    assert all(isinstance(reason, str) and len(reason) > 5 for reason in BANNED_NUMBERS.values())
