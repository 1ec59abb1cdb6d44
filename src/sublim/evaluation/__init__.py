"""Evaluation: how much does a model prefer the target? Sampled rates and exact probabilities."""
