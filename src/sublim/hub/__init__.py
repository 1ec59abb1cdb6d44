"""Real pretrained checkpoints that install without a model hub (prepared once, cached).

Example:
    >>> from sublim.hub import prepare_smollm2          # doctest: +SKIP
    >>> prepare_smollm2()                                # doctest: +SKIP
    PosixPath('/home/me/.cache/sublim/smollm2-135m')
"""

from sublim.hub.smollm2 import SMOLLM2_PRESET, prepare_smollm2

__all__ = ["SMOLLM2_PRESET", "prepare_smollm2"]
