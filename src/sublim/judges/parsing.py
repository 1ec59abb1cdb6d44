"""Read a judge's free-text answer into a score, tolerating the usual ways judges phrase it.

Rules (a judge that answers anything else yields ``None`` with a reason, never a guess):

* special answers first: an answer that is (or starts with) ``REFUSAL`` / ``CODE`` maps to None
  with reason ``refusal`` / ``code``;
* 0-100: scale phrases ("out of 100", "/100", "0-100", "on a scale of 0 to 100") are removed, then
  the first number is taken; outside 0..100 is ``out of range``;
* yes/no: the first word, else the only one of yes/no that appears;
* choice: a leading label (``B``, ``(B)``, ``B.``), ``answer: B`` / ``answer is B``, else the only
  label that appears as a standalone word.

Example:
    >>> parse_answer("Score: 85/100", "0-100").value
    85.0
    >>> parse_answer("REFUSAL", "0-100").reason
    'refusal'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sublim.judges.config import JudgeScore, ScoreKind

_SCALE = re.compile(
    r"(on\s+a\s+scale\s+(of|from)\s+)?\b0\s*(-|–|to)\s*100\b|\bout\s+of\s+100\b|/\s*100\b", re.IGNORECASE
)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


def _first_word(text: str) -> str:
    match = re.match(r"\W*(\w+)", text)
    return match.group(1) if match else ""


def _special(text: str, specials: Sequence[str]) -> str | None:
    head = _first_word(text)  # case-sensitive: "Code looks fine: 80" is a score, "CODE" is not
    stripped = re.sub(r"[^A-Za-z]", "", text).upper()
    for special in specials:
        if head == special or stripped == special.upper():
            return special
    return None


def parse_number(text: str) -> tuple[float | None, str | None]:
    cleaned = _SCALE.sub(" ", text)
    match = _NUMBER.search(cleaned)
    if match is None:
        return None, "unparseable: no number"
    value = float(match.group())
    if not 0.0 <= value <= 100.0:
        return None, f"out of range: {match.group()}"
    return value, None


def parse_yes_no(text: str) -> tuple[str | None, str | None]:
    head = _first_word(text).lower()
    if head in ("yes", "no"):
        return head, None
    found = {w.lower() for w in re.findall(r"\b(yes|no)\b", text, re.IGNORECASE)}
    if len(found) == 1:
        return found.pop(), None
    return None, "unparseable: no yes/no" if not found else "unparseable: both yes and no"


def parse_choice(text: str, choices: Sequence[str]) -> tuple[str | None, str | None]:
    alternatives = "|".join(re.escape(c) for c in sorted(choices, key=len, reverse=True))
    found = set(re.findall(rf"(?<!\w)({alternatives})(?!\w)", text))
    lead = re.match(rf"\s*(\()?({alternatives})(\)|[.:,]|\s|$)", text)
    # "B" / "(B)" / "B." lead the answer; "A or B ..." does not decide between them.
    if lead and (len(found) == 1 or lead.group(1) or lead.group(3) in (")", ".", ":", "")):
        return lead.group(2), None
    stated = re.search(rf"answer\s*(?:is|:)\s*\(?({alternatives})\)?\b", text, re.IGNORECASE)
    if stated:
        label = stated.group(1)
        return next(c for c in choices if c.lower() == label.lower()), None
    if len(found) == 1:
        return found.pop(), None
    return None, "unparseable: no choice label" if not found else "unparseable: several choice labels"


def parse_answer(
    text: str, kind: ScoreKind, choices: Sequence[str] = ("A", "B"), specials: Sequence[str] = ("REFUSAL", "CODE")
) -> JudgeScore:
    """Parse one judge answer into a :class:`JudgeScore` (``value`` None + ``reason`` on failure)."""
    raw = text
    text = text.strip()
    special = _special(text, specials)
    if special is not None:
        return JudgeScore(value=None, label=special, reason=special.lower(), raw=raw)
    if kind == "0-100":
        value, reason = parse_number(text)
        return JudgeScore(value=value, reason=reason, raw=raw)
    if kind == "yes/no":
        label, reason = parse_yes_no(text)
        value = None if label is None else float(label == "yes")
        return JudgeScore(value=value, label=label, reason=reason, raw=raw)
    label, reason = parse_choice(text, choices)
    value = None if label is None else float(list(choices).index(label))
    return JudgeScore(value=value, label=label, reason=reason, raw=raw)
