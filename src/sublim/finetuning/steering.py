"""Low-dimensional parameterisations: a steering vector after one layer, or the RMSNorm gains.

These are the parameterisations of the CPU model organism (docs/research/tiny-organism.md): a teacher
whose trait is *one vector* added to the residual stream after decoder layer ``layer`` at every
position, and a student with a free vector in the same place. Both save as plain Llama checkpoints:
the vector is stored as the bias of that layer's MLP ``down_proj`` (the MLP output is added to the
residual stream, so a constant bias there *is* a steering vector), with ``config.mlp_bias = true``
and every other MLP bias zero — plain ``transformers`` loads it and computes exactly the same function.

Options (``FinetuneConfig.params_options``): ``layer`` (int, default 0; or a list of ints: one vector
after each, a change built from several small ones) for ``steering_vector``; ``init_std`` (float,
default 0): start each vector from N(0, init_std²) drawn from the seeded torch RNG instead of zero (a
teacher whose init varies with the seed; a student keeps 0 = the base).

Example:
    >>> # FinetuneConfig(params="steering_vector", params_options={"layer": 0}, lr=0.1)
"""

from __future__ import annotations

from typing import Any

from sublim.finetuning.params import Student, check_layer, register_parameterisation, save_full_model


def ensure_mlp_biases(model: Any) -> None:
    """Give every MLP projection a (zero) bias and set ``mlp_bias`` so the checkpoint reloads as is."""
    import torch

    for layer in model.model.layers:
        for name in ("gate_proj", "up_proj", "down_proj"):
            lin = getattr(layer.mlp, name)
            if lin.bias is None:
                lin.bias = torch.nn.Parameter(torch.zeros(lin.out_features, dtype=lin.weight.dtype, device=lin.weight.device))
    model.config.mlp_bias = True


def steering_bias(model: Any, layer: int) -> Any:
    """The parameter holding the steering vector after decoder layer ``layer``."""
    check_layer(model, layer, "params_options.layer")
    return model.model.layers[layer].mlp.down_proj.bias


@register_parameterisation("steering_vector")
def steering_vector(model: Any, config: Any) -> Student:
    """One free vector (d_model numbers) added to the residual stream after ``layer`` (or after each of a
    list of layers); all else frozen."""
    layers = config.params_options.get("layer", 0)
    layers = [int(x) for x in layers] if isinstance(layers, list) else [int(layers)]
    ensure_mlp_biases(model)  # before freezing: the new (zero) biases must not train either
    for p in model.parameters():
        p.requires_grad_(False)
    vectors = [steering_bias(model, layer) for layer in layers]
    init_std = float(config.params_options.get("init_std", 0.0))
    for vector in vectors:
        if init_std:
            vector.data.normal_(0.0, init_std)
        vector.requires_grad_(True)
    return Student(model, vectors, save=save_full_model)


@register_parameterisation("norm_gains")
def norm_gains(model: Any, config: Any) -> Student:
    """Only the RMSNorm gains (2 per layer + the final one) are trained."""
    for p in model.parameters():
        p.requires_grad_(False)
    gains = [p for name, p in model.named_parameters() if name.endswith("norm.weight")]
    for p in gains:
        p.requires_grad_(True)
    return Student(model, gains, save=save_full_model)
