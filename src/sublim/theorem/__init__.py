"""Numeric check of the paper's Theorem 1 (a shared-init student's first imitation step aligns with the teacher).

Entry point: :func:`sublim.theorem.check.run_theorem` (``sublim theorem``). ``mlp`` probes the MNIST MLP,
``lm`` a causal language model; ``alignment`` holds the losses and inner products they share.
"""
