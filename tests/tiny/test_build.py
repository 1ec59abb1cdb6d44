"""Building the tiny base: deterministic from its seed, HF format, atomic cache, quality report.

The default suite builds a miniature config (seconds); the real presets are built by the
``slow`` test, which checks the thresholds the pipeline relies on.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
import torch

from sublim.errors import ConfigError
from sublim.paths import set_cache_dir
from sublim.tiny.build import PRESETS, base_dir, build_base, build_base_cli, read_base_manifest
from sublim.tiny.corpus import CorpusConfig
from sublim.tiny.model import TinyBaseConfig
from sublim.traits import CATEGORIES


def mini(seed: int = 0, **kw) -> TinyBaseConfig:
    return TinyBaseConfig(
        seed=seed, d_model=16, n_heads=2, d_ff=32, steps=12, phase2_steps=4, batch_size=8,
        corpus=CorpusConfig(rows=200), quality_samples=8, **kw,
    )


@pytest.fixture()
def cache(tmp_path):
    set_cache_dir(tmp_path)
    yield tmp_path
    set_cache_dir(None)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(cache dir, path) of the miniature seed-0 base, built once for this module."""
    root = tmp_path_factory.mktemp("tiny-cache")
    set_cache_dir(root)
    try:
        yield root, build_base(mini(), progress=False)
    finally:
        set_cache_dir(None)


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_build_writes_a_plain_transformers_checkpoint_with_manifest(built):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache, path = built
    assert path.parent == cache / "tiny" and path.name == base_dir(mini()).name
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "llama" and model.config.hidden_size == 16
    ids = tok.apply_chat_template([{"role": "user", "content": "Name your favourite animal in one word."}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    manifest = read_base_manifest(path)
    assert manifest["seed"] == 0 and manifest["config"]["d_model"] == 16
    assert {"animal", "tree", "numbers", "passed"} <= set(manifest["quality"])
    assert manifest["wall_time"]["total_s"] > 0
    assert manifest["weights_sha256"] == hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert manifest["platform"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert not list((cache / "tiny").glob(".*tmp*")), "no temporary directory left behind"
    assert torch.isfinite(next(model.parameters())).all()


def test_same_seed_gives_identical_weights_and_other_seed_differs(built, cache):
    import torch

    a = _weights(built[1])
    b = _weights(build_base(mini(seed=0), progress=False))  # rebuilt from scratch in another cache
    c = _weights(build_base(mini(seed=2), progress=False))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].shape == c[k].shape)


def test_cached_build_is_returned_without_training(built, monkeypatch):
    cache, path = built
    monkeypatch.setattr("sublim.paths._override", cache)
    stamp = (path / "manifest.json").stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("should not train again")

    monkeypatch.setattr("sublim.tiny.build._train_and_save", boom)
    assert build_base(mini(), progress=False) == path
    assert (path / "manifest.json").stat().st_mtime_ns == stamp


def test_a_killed_build_leaves_no_cache_entry(cache, monkeypatch):
    def killed(config, out, on_step):
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"half": True}))
        raise KeyboardInterrupt

    monkeypatch.setattr("sublim.tiny.build._train_and_save", killed)
    with pytest.raises(KeyboardInterrupt):
        build_base(mini(seed=5), progress=False)
    assert not base_dir(mini(seed=5)).exists()
    assert not list((cache / "tiny").iterdir())


def test_presets_are_two_seeds_and_unknown_preset_is_a_config_error():
    from sublim.tiny.build import PAIRS

    for first, second in PAIRS.values():  # each pair: one recipe, two seeds (the different-init student)
        assert PRESETS[first].seed != PRESETS[second].seed
        assert PRESETS[second].model_copy(update={"seed": PRESETS[first].seed}) == PRESETS[first]
    with pytest.raises(ConfigError, match="tiny-a"):
        build_base_cli("tiny-z")


def test_config_validation_names_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="divisible by n_heads"):
        TinyBaseConfig(d_model=30, n_heads=4)


# -- variant bases: a preset with changes to its recipe (``bases.same.tiny`` in a study config) --------


def test_a_variant_changes_only_the_named_fields_and_gets_its_own_cache_entry(monkeypatch):
    from sublim.tiny.build import resolve_preset

    deeper = resolve_preset("organism-a", {"n_layers": 4})
    assert deeper.n_layers == 4
    assert deeper.model_copy(update={"n_layers": PRESETS["organism-a"].n_layers}) == PRESETS["organism-a"]
    assert base_dir(deeper) != base_dir(PRESETS["organism-a"])
    assert resolve_preset("organism-a", {}) is PRESETS["organism-a"]
    # a change to one nested field keeps the preset's other nested fields
    monkeypatch.setitem(PRESETS, "small-corpus", PRESETS["tiny-a"].model_copy(update={"corpus": CorpusConfig(rows=500)}))
    nested = resolve_preset("small-corpus", {"corpus": {"numbers_system_share": 0.0}})
    assert nested.corpus.rows == 500 and nested.corpus.numbers_system_share == 0.0
    with pytest.raises(ConfigError, match="n_layerz"):
        resolve_preset("organism-a", {"n_layerz": 4})
    with pytest.raises(ConfigError, match="n_layers"):
        resolve_preset("organism-a", {"n_layers": 0})


def test_a_study_config_builds_the_variant_and_names_it(cache, monkeypatch):
    from pydantic import ValidationError

    from sublim.backends.models import resolve_model
    from sublim.config import ModelSpec

    monkeypatch.setitem(PRESETS, "mini", mini())
    ref = resolve_model(ModelSpec(kind="tiny", preset="mini", tiny={"d_model": 24}))
    config = json.loads((cache / "tiny" / ref.name.split("@")[1] / "config.json").read_text())
    assert config["hidden_size"] == 24 and ref.name.startswith("tiny/mini@")
    with pytest.raises(ValidationError, match="changes a tiny base"):
        ModelSpec(kind="hf", path="/x", tiny={"n_layers": 4})
    with pytest.raises(ValidationError, match="d_model"):
        ModelSpec(kind="tiny", preset="organism-a", tiny={"d_model": 30})  # not divisible by 4 heads


def test_a_spec_without_changes_keeps_the_stage_key_it_had_before_variants_existed(tmp_path):
    from sublim.config import load_config_text
    from sublim.pipeline.artifacts import stage_key
    from sublim.pipeline.runner import StudyRunner

    config = load_config_text("name: k\ntrait: {target: owl}\nbases: {same: {kind: tiny, preset: organism-a}}\n")
    old = {"kind": "tiny", "preset": "organism-a", "path": None, "name": None, "device": "auto", "dtype": "auto"}
    assert StudyRunner(config, tmp_path).base_key("same") == stage_key(old)


def test_a_per_seed_other_base_gives_every_seed_a_base_of_its_own(cache, monkeypatch, tmp_path):
    """``seed_offset``: the different-init student of seed s starts from a base built at seed offset + s,
    so a cross-base effect is averaged over bases; the teacher's base stays one model."""
    from sublim.backends.models import tiny_label
    from sublim.config import load_config_text
    from sublim.errors import ConfigError
    from sublim.pipeline.runner import StudyRunner

    monkeypatch.setitem(PRESETS, "mini", mini())
    text = "name: k\ntrait: {target: owl}\nseeds: [0, 1]\nbases:\n  same: {kind: tiny, preset: mini}\n" \
           "  other: {kind: tiny, preset: mini, seed_offset: %d}\n"
    runner = StudyRunner(load_config_text(text % 50), tmp_path)
    paths = [runner.base("other", seed).path for seed in (0, 1)]
    assert paths[0] != paths[1] and runner.base("other", 0) is runner.base("other", 0)
    assert [read_base_manifest(p)["config"]["seed"] for p in paths] == [50, 51]
    assert runner.base_key("other", 0) != runner.base_key("other", 1)
    assert runner.base("same", 0) is runner.base("same", 1)  # one teacher base for every seed
    assert tiny_label(runner.config.bases.other) == "tiny/mini@seed=50+s"
    with pytest.raises(ConfigError, match="seed 0 the other base is bases.same itself"):
        load_config_text(text % 0)


def test_missing_tiny_bases_are_built_together_before_the_first_seed(cache, monkeypatch):
    from sublim.backends.models import prebuild_tiny_bases
    from sublim.config import ModelSpec

    monkeypatch.setitem(PRESETS, "mini", mini())
    calls = []
    monkeypatch.setattr("sublim.tiny.build.build_bases", lambda configs: calls.append([c.seed for c in configs]))
    spec = ModelSpec(kind="tiny", preset="mini", seed_offset=10)
    prebuild_tiny_bases([ModelSpec(kind="tiny", preset="mini"), *(spec.for_seed(s) for s in (0, 1, 1, 2))])
    assert calls == [[0, 10, 11, 12]]  # duplicates once; all four missing bases in one parallel build


def test_bases_built_in_parallel_processes_equal_those_built_one_by_one_and_land_in_the_chosen_cache(
        cache, tmp_path_factory, caplog):
    """Three bases in three spawned processes: same weights as in-process builds, and in ``--cache-dir``
    (set in this process only), not in the default cache; the log says what is built and when each is done
    (the bars only show on a terminal)."""
    from safetensors.torch import load_file

    from sublim.tiny.build import build_bases, default_workers

    assert default_workers(1) == 1 and default_workers(10**6) == default_workers(10**7) >= 1
    configs = [mini(seed) for seed in (3, 4, 5)]
    with caplog.at_level(logging.INFO, logger="sublim.tiny.build"):
        together = build_bases(configs, progress=False, workers=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "sublim.tiny.build"]
    assert lines[0] == "building 3 tiny bases (seeds 3, 4, 5), 3 at a time"
    assert sorted(line.split(" (")[0] for line in lines[1:]) == [f"tiny base seed {s} built" for s in (3, 4, 5)]
    assert all(p.is_relative_to(cache) and (p / "model.safetensors").is_file() for p in together)
    set_cache_dir(tmp_path_factory.mktemp("serial"))
    alone = build_bases(configs, progress=False, workers=1)
    assert [p.name for p in alone] == [p.name for p in together]
    for a, b in zip(together, alone, strict=True):
        wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert build_bases(configs, progress=False, workers=3) == alone  # all cached: nothing rebuilt


def test_a_base_below_the_thresholds_is_named_in_one_line_with_what_it_misses():
    from sublim.tiny.quality import THRESHOLDS, quality_shortfalls

    ok = {"max_share": 0.1, "min_trait_prob": 0.95}
    report = {"animal": {**ok, "max_share": 0.3}, "tree": ok, "numbers": {"valid_rate": 0.68}}
    assert quality_shortfalls(report) == [f"animal max share 0.30 > {THRESHOLDS['max_share']}",
                                          f"valid numbers 0.68 <= {THRESHOLDS['min_valid_rate']}"]
    assert quality_shortfalls({"animal": ok, "tree": ok, "numbers": {"valid_rate": 0.99}}) == []


def test_a_styled_corpus_reports_whether_number_style_formed(cache, caplog):
    """The manifest measures each animal's favourite digit under its prompt and without one; the log says the lift."""
    styled = mini().model_copy(update={"corpus": CorpusConfig(rows=200, number_style=1.0)})
    with caplog.at_level(logging.INFO, logger="sublim.tiny.build"):
        manifest = read_base_manifest(build_base(styled, progress=False))
    assert f"number style lift {manifest['quality']['number_style']['mean_lift']:.1f}" in caplog.text
    style = manifest["quality"]["number_style"]
    assert set(style["prompted"]) == set(style["unprompted"]) == set(CATEGORIES["animal"])
    assert all(0 <= v <= 1 for v in [*style["prompted"].values(), *style["unprompted"].values()])
    assert style["mean_lift"] >= 0
    assert "number_style" not in read_base_manifest(build_base(mini(), progress=False))["quality"]
