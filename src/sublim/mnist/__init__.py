"""MNIST auxiliary-logit experiment (Cloud et al. 2025, section 6): subliminal learning without language.

A teacher MLP learns digits through 10 regular logits; 3 extra *auxiliary* logits get no loss. A student
sharing the teacher's initialisation, trained only to match those auxiliary logits on uniform noise,
learns to classify digits; a student with another initialisation does not. Entry point:
:func:`sublim.mnist.experiment.run_mnist` (``sublim mnist``).
"""
