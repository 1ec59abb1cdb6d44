"""Orchestration: run directories and manifests (``artifacts``), and the study runner (``runner``)."""
