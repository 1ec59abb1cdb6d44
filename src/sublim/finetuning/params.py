"""Student parameterisations: which parameters of the student are trained, and how it is saved.

A parameterisation is one function ``(model, config) -> Student`` registered under a name that
``FinetuneConfig.params`` refers to. Built in: ``full`` (every weight) and ``lora`` (peft adapters).
Adding another (a steering vector after a layer, the final norm gain…) is one decorated function:

Example:
    >>> @register_parameterisation("norm_gain")                       # doctest: +SKIP
    ... def norm_gain(model, config):
    ...     for p in model.parameters():
    ...         p.requires_grad_(False)
    ...     gain = model.model.norm.weight.requires_grad_(True)
    ...     return Student(model, [gain], save=save_full_model)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sublim.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from sublim.finetuning.config import FinetuneConfig

SaveFn = Callable[[Any, Any, Path, "FinetuneConfig"], dict[str, str | None]]


@dataclass
class Student:
    """The model to train plus what to optimise and how to save it.

    Attributes:
        model: the module the training loop calls (possibly a wrapper such as a peft model).
        parameters: the parameters the optimiser updates (everything else stays frozen).
        save: ``save(model, tokenizer, out_dir, config) -> {"path": ..., "adapter": ...}`` writes a
            checkpoint plain ``transformers`` (and ``peft`` for adapters) can load.
    """

    model: Any
    parameters: list[Any]
    save: SaveFn


ParamFactory = Callable[[Any, "FinetuneConfig"], Student]
_PARAMETERISATIONS: dict[str, ParamFactory] = {}


def register_parameterisation(name: str) -> Callable[[ParamFactory], ParamFactory]:
    """Decorator registering a parameterisation under ``name`` (usable as ``params: <name>``)."""

    def deco(fn: ParamFactory) -> ParamFactory:
        _PARAMETERISATIONS[name] = fn
        return fn

    return deco


# Modules of sublim that register more parameterisations; imported on first lookup.
EXTENSION_MODULES = ("sublim.finetuning.steering",)


def _load_extensions() -> None:
    import importlib

    for name in EXTENSION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def parameterisation_names() -> list[str]:
    """Names usable as ``FinetuneConfig.params`` (built-ins, sublim's extensions, user registrations)."""
    _load_extensions()
    return sorted(_PARAMETERISATIONS)


def make_student(model: Any, config: FinetuneConfig) -> Student:
    """Apply the configured parameterisation to a freshly loaded base model."""
    _load_extensions()
    if config.params not in _PARAMETERISATIONS:
        raise ConfigError(f"field 'params': unknown parameterisation {config.params!r}; "
                          f"known: {', '.join(parameterisation_names())}")
    student = _PARAMETERISATIONS[config.params](model, config)
    if not student.parameters:
        raise ConfigError(f"parameterisation {config.params!r} left no trainable parameters")
    return student


def save_full_model(model: Any, tokenizer: Any, out_dir: Path, config: FinetuneConfig) -> dict[str, str | None]:
    """Save every weight as an HF checkpoint (safetensors + tokenizer + chat template) in ``out_dir/model``."""
    path = out_dir / "model"
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return {"path": str(path), "adapter": None}


def save_lora(model: Any, tokenizer: Any, out_dir: Path, config: FinetuneConfig) -> dict[str, str | None]:
    """Save the adapter in ``out_dir/adapter``; with ``merge: true`` also merged weights in ``out_dir/merged``."""
    adapter = out_dir / "adapter"
    model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    if not config.merge:
        return {"path": None, "adapter": str(adapter)}
    merged_dir = out_dir / "merged"
    merged = model.merge_and_unload()
    merged.save_pretrained(merged_dir, safe_serialization=True)
    tokenizer.save_pretrained(merged_dir)
    return {"path": str(merged_dir), "adapter": str(adapter)}


@register_parameterisation("full")
def full_weights(model: Any, config: FinetuneConfig) -> Student:
    """Every weight of the base model is trained."""
    for p in model.parameters():
        p.requires_grad_(True)
    return Student(model, [p for p in model.parameters()], save=save_full_model)


def check_layer(model: Any, layer: int, field: str) -> None:
    """Raise a ConfigError naming ``field`` unless ``layer`` indexes one of the model's decoder layers."""
    n = len(model.model.layers)
    if not 0 <= layer < n:
        raise ConfigError(f"field '{field}': {layer} is out of range (the model has {n} layers)")


@register_parameterisation("lora")
def lora_adapters(model: Any, config: FinetuneConfig) -> Student:
    """LoRA adapters (peft) on ``config.lora.target_modules`` (of ``lora.layers`` only, if set); base frozen."""
    from peft import LoraConfig, get_peft_model

    settings = config.lora
    for layer in settings.layers or []:
        check_layer(model, layer, "lora.layers")
    lora_config = LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=settings.target_modules, task_type="CAUSAL_LM", bias="none",
        layers_to_transform=settings.layers,
    )
    try:
        wrapped = get_peft_model(model, lora_config)
    except ValueError as exc:
        raise ConfigError(f"field 'lora.target_modules': {exc}") from None
    trainable = [p for p in wrapped.parameters() if p.requires_grad]
    return Student(wrapped, trainable, save=save_lora)


def lr_groups(student: Student, config: FinetuneConfig) -> list[dict[str, Any]]:
    """AdamW parameter groups for ``config.lr_scale``: one per pattern, the unmatched parameters first.

    Why: a student free in every layer can fit the teacher's outputs through shortcuts near the output
    that carry little of the trait (docs/research/tiny-organism.md); slower rates there keep the fit
    where the trait lives without freezing anything.
    """
    if not config.lr_scale:
        return [{"params": list(student.parameters), "lr": config.lr}]
    from fnmatch import fnmatchcase

    names = {id(p): n for n, p in student.model.named_parameters()}
    patterns = list(config.lr_scale)
    groups: dict[str | None, list[Any]] = {None: [], **{pat: [] for pat in patterns}}
    for p in student.parameters:
        name = names.get(id(p), "")
        groups[next((pat for pat in patterns if fnmatchcase(name, pat)), None)].append(p)
    for pat in patterns:
        if not groups[pat]:
            trained = [names.get(id(p), "?") for p in student.parameters[:3]]
            raise ConfigError(f"field 'lr_scale': pattern {pat!r} matches no trained parameter (or only ones an "
                              f"earlier pattern took); trained parameters are named like {', '.join(trained)}")
    return [{"params": ps, "lr": config.lr * (1.0 if pat is None else config.lr_scale[pat])}
            for pat, ps in groups.items() if ps]


def make_optimizer(student: Student, config: FinetuneConfig, weight_decay: float) -> Any:
    """AdamW (or SGD) over ``lr_groups``, or GaLore's AdamW when ``config.galore`` is set.

    GaLore's groups are ``lr_groups`` split in two: the targeted matrices carry the projection settings
    (galore-torch reads ``rank`` etc. from the group), everything else is plain AdamW in the same optimiser.
    """
    import torch

    groups = lr_groups(student, config)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=weight_decay)
    if config.galore is None:
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=weight_decay)
    settings = config.galore
    galore_adamw = _import_galore()
    names = {id(p): n for n, p in student.model.named_parameters()}
    suffixes = tuple(f"{m}.weight" for m in settings.target_modules)
    split: list[dict[str, Any]] = []
    for group in groups:
        low_rank, plain = [], []
        for p in group["params"]:
            (low_rank if p.ndim == 2 and names.get(id(p), "").endswith(suffixes) else plain).append(p)
        if low_rank:
            split.append({**group, "params": low_rank, "rank": settings.rank, "scale": settings.scale,
                          "update_proj_gap": settings.update_proj_gap, "proj_type": "std"})
        if plain:
            split.append({**group, "params": plain})
    if not any("rank" in g for g in split):
        raise ConfigError(f"field 'galore.target_modules': no trained matrix is named like {settings.target_modules}")
    return galore_adamw(split, lr=config.lr, weight_decay=weight_decay, eps=1e-8, no_deprecation_warning=True)


def _import_galore() -> Any:
    try:
        from galore_torch import GaLoreAdamW
    except ImportError:
        raise MissingDependencyError("galore_torch", "galore") from None
    return GaLoreAdamW
