"""User-facing errors: one clear sentence, no traceback."""

from __future__ import annotations


class SaTuiError(Exception):
    """An error caused by the user's input or environment, shown as one sentence."""


class DatasetError(SaTuiError):
    """A dataset could not be read or does not fit the multiple-choice format."""


class ModelError(SaTuiError):
    """A model could not be found, refused, or loaded."""


class ConfigError(SaTuiError):
    """Run parameters that cannot work together (e.g. more keywords than words)."""


class CancelledError(SaTuiError):
    """The user cancelled the job."""
