"""Student fine-tuning: completion-only SFT and logit distillation, full weights or LoRA.

Example:
    >>> from sublim.finetuning import FinetuneConfig        # doctest: +SKIP
    >>> ref = finetune("base_dir", Path("rows.jsonl"), FinetuneConfig(epochs=1), Path("out"))  # doctest: +SKIP
"""

from sublim.finetuning.config import FinetuneConfig, LoraSettings

__all__ = ["FinetuneConfig", "LoraSettings", "finetune", "trait_mass_at_positions", "teacher_targets"]


def __getattr__(name: str):  # heavy (torch) imports only when used
    if name == "finetune":
        from sublim.finetuning.trainer import finetune

        return finetune
    if name in ("trait_mass_at_positions", "teacher_targets"):
        from sublim.finetuning import distill

        return getattr(distill, name)
    raise AttributeError(name)
