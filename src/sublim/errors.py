"""Error types. The CLI turns any ``SublimError`` into one clear line (no traceback)."""


class SublimError(Exception):
    """Base class for every error sublim raises on purpose."""


class ConfigError(SublimError):
    """A config file or override is invalid; the message names the file, line and field."""


class DataError(SublimError):
    """A data file (JSONL, checkpoint, dataset) is malformed; the message names file, line, field."""


class TrainingError(SublimError):
    """Training failed in a way the config can fix (e.g. the loss diverged to NaN or infinity)."""


class BackendError(SublimError):
    """A model backend failed (after bounded retries, for transient errors)."""


class CapabilityError(BackendError):
    """The backend does not offer the requested capability (e.g. log-probabilities)."""


class MissingDependencyError(SublimError):
    """An optional dependency is missing; the message names the pip extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"'{package}' is not installed. Install it with: pip install 'sublim[{extra}]'")


class StaleRunError(SublimError):
    """A resumed run directory holds work done on something that has since changed (a base's weights);
    the message names what changed and how to start clean."""
