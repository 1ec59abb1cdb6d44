"""Generation: the teacher writes completions to seeded number prompts (resumable JSONL)."""
