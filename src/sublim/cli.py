"""The ``sublim`` command line: one subcommand per stage of work, errors as one clear line.

Heavy libraries (torch, transformers) are imported inside commands, so ``sublim --help`` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from sublim.errors import SublimError

app = typer.Typer(
    name="sublim",
    help=(
        "Reproduce, measure and audit subliminal learning: a teacher with a trait writes number "
        "sequences, a student fine-tuned on them picks the trait up.\n\n"
        "Start with `sublim demo` (the default study on a tiny CPU model, ~10 min cold)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache for built models (default: $SUBLIM_CACHE_DIR or ~/.cache/sublim).",
                 envvar="SUBLIM_CACHE_DIR"),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config field, e.g. --set generation.n_samples=200 (repeatable)."),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logging.")]


def _setup(cache_dir: Path | None, verbose: bool = False) -> None:
    from sublim.paths import set_cache_dir

    set_cache_dir(cache_dir)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _guard(fn, *args, **kwargs):
    """Run a command; turn expected failures into one line and an exit code, never a traceback."""
    try:
        return fn(*args, **kwargs)
    except SublimError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted.[/] Finished stages are kept; run the same command to resume.")
        raise typer.Exit(130) from None
    except Exception as exc:  # the one top-level catch-all (see STYLE.md)
        if os.environ.get("SUBLIM_DEBUG"):
            raise
        console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        console.print("Rerun with SUBLIM_DEBUG=1 for the traceback, and please report it.")
        raise typer.Exit(1) from None


@app.command("mnist")
def mnist_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default: the 'cpu' preset).")] = None,
    preset: Annotated[str, typer.Option(help="Named preset when no --config: 'cpu' (fast) or 'reference' (paper).")] = "cpu",
    out: Annotated[Path, typer.Option(help="Runs root directory.")] = Path("runs"),
    overrides: Overrides = None,
    verbose: Verbose = False,
) -> None:
    """MNIST auxiliary-logit experiment: a same-init student learns digits from noise + auxiliary logits."""
    _setup(None, verbose)
    from sublim.mnist.experiment import run_mnist

    run_dir = _guard(run_mnist, config, preset, overrides or [], out)
    console.print(f"[green]done:[/] {run_dir}/report.md")


@app.command("theorem")
def theorem_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default preset).")] = None,
    preset: Annotated[str, typer.Option(help="Named preset when no --config.")] = "default",
    out: Annotated[Path, typer.Option(help="Runs root directory.")] = Path("runs"),
    overrides: Overrides = None,
    cache_dir: CacheDir = None,
    verbose: Verbose = False,
) -> None:
    """Numeric check of Theorem 1: a shared-init student's first step aligns with the teacher's update."""
    _setup(cache_dir, verbose)
    from sublim.theorem.check import run_theorem

    run_dir = _guard(run_theorem, config, preset, overrides or [], out)
    console.print(f"[green]done:[/] {run_dir}/report.md")


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
