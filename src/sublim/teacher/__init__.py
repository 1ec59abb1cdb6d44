"""Teachers: a base model given a trait, by system prompt or by fine-tuning on trait answers."""
