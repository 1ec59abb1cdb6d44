"""Configs fail with one line naming the file, the line and the field."""

from pathlib import Path

import pytest
from pydantic import Field

from sublim.errors import ConfigError
from sublim.yamlconfig import StrictModel, config_hash, load_yaml_model


class Inner(StrictModel):
    n_samples: int = Field(10, gt=0)


class Outer(StrictModel):
    name: str
    generation: Inner = Inner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("name: x\ngeneration:\n  n_samples: -5\n", 3, "generation.n_samples"),
        ("name: x\ngeneration:\n  n_sampels: 5\n", 3, "generation.n_sampels"),
        ("generation:\n  n_samples: 5\n", None, "name"),
        ("name: x\ngeneration: 7\n", 2, "generation"),
    ],
)
def test_validation_error_names_file_line_and_field(tmp_path, text, line, field):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, Outer)
    msg = str(info.value)
    assert str(path) in msg
    assert f"field '{field}'" in msg
    if line is not None:
        assert f"{path}:{line}:" in msg


def test_invalid_yaml_names_line(tmp_path):
    path = write(tmp_path, "name: x\ngeneration: [1, 2\n")
    with pytest.raises(ConfigError, match=r"study.yaml:\d+: invalid YAML"):
        load_yaml_model(path, Outer)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml_model(tmp_path / "nope.yaml", Outer)


def test_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path, "name: x\n")
    cfg = load_yaml_model(path, Outer, ["generation.n_samples=42", "name=y"])
    assert (cfg.name, cfg.generation.n_samples) == ("y", 42)
    with pytest.raises(ConfigError, match="generation.n_samples"):
        load_yaml_model(path, Outer, ["generation.n_samples=0"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_yaml_model(path, Outer, ["generation.n_samples"])


def test_config_hash_is_stable_and_sensitive():
    a, b = Outer(name="x"), Outer(name="x")
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(Outer(name="x", generation=Inner(n_samples=11)))


def test_a_field_added_later_stays_out_of_dumps_and_cache_keys_at_its_default():
    """Adding an option must not invalidate every cached stage: at its default it is not dumped."""
    from sublim.finetuning import FinetuneConfig
    from sublim.yamlconfig import config_hash

    default = FinetuneConfig()
    assert "weight_decay_to" not in default.model_dump(mode="json")
    assert config_hash(default) == "836cc2a5942f3571"  # its hash before weight_decay_to existed
    anchored = FinetuneConfig(weight_decay_to="init")
    assert anchored.model_dump()["weight_decay_to"] == "init" and config_hash(anchored) != config_hash(default)
    assert FinetuneConfig.model_validate(anchored.model_dump()) == anchored  # round-trips
