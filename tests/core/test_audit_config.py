"""Audit mode's config (`data:`): what it cannot run is refused when the config loads, with the reason."""

import pytest

from sublim.config import load_config_text
from sublim.errors import ConfigError

AUDIT = "name: a\ntrait: {target: owl}\ndata: {treatment: t.jsonl, control: c.jsonl}\n"


@pytest.mark.parametrize("extra, message", [
    ("conditions: [base, treatment, specificity]", "condition 'specificity' needs teachers sublim builds"),
    ("conditions: [base, treatment, teacher]", "give it as data.teacher"),
    ("student: {method: distill}", "give the model that wrote them as data.teacher"),
])
def test_what_needs_a_teacher_sublim_builds_or_knows_is_refused(extra, message):
    with pytest.raises(ConfigError, match=message):
        load_config_text(AUDIT + extra)


def test_a_distilled_audit_names_the_teacher_that_wrote_the_rows():
    cfg = load_config_text("name: a\ntrait: {target: owl}\nstudent: {method: distill}\nconditions: [base, treatment, "
                           "teacher]\ndata: {treatment: t.jsonl, control: c.jsonl, teacher: {kind: hf, path: ./my-teacher}}")
    assert cfg.data.teacher.path == "./my-teacher" and cfg.data.control_teacher is None


def test_an_adapter_belongs_to_the_model_that_wrote_the_rows_not_to_a_base():
    """A student starts from a base's own weights; an API model has no adapter to apply."""
    with pytest.raises(ConfigError, match="'adapter' is for the model that wrote audit rows"):
        load_config_text(AUDIT + "bases: {same: {kind: tiny, preset: tiny-a, adapter: ./lora}}")
    with pytest.raises(ConfigError, match="an API model has none"):
        load_config_text("name: a\ntrait: {target: owl}\ndata: {treatment: t.jsonl, control: c.jsonl, "
                         "teacher: {kind: openai, name: gpt-4.1-nano, adapter: ./lora}}")


def test_an_adapter_left_unset_keeps_every_cached_base_key():
    """Stage keys hash the base spec: the new field must not change the keys of runs made before it."""
    from sublim.config import ModelSpec

    assert "adapter" not in ModelSpec(kind="tiny", preset="organism-a").model_dump()
    assert ModelSpec(kind="hf", path="m", adapter="a").model_dump()["adapter"] == "a"


def test_the_report_names_the_model_that_wrote_the_rows_with_its_adapter():
    """A tiny base has neither path nor name: the recipe once read "written by None" for such a teacher."""
    from sublim.reporting.summary import recipe

    cfg = load_config_text("name: a\ntrait: {target: owl}\ndata: {treatment: t.jsonl, control: c.jsonl, "
                           "teacher: {kind: tiny, preset: organism-a, adapter: ./lora}}")
    assert recipe(cfg)["teacher"] == \
        "not built: the treatment rows were written by tiny/organism-a + adapter ./lora"
