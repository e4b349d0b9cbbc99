"""The one exception type that the command line turns into a one-line message."""

from typing import Any


class DarlaError(Exception):
    """A problem with the user's input: the message says what is wrong and what to do.

    The CLI prints it on one line and exits with status 2, without a traceback.
    """


def require_positive(config: Any, *names: str) -> None:
    """Refuse a config whose named integer fields are below 1 (counts, sizes, frequencies)."""
    for name in names:
        if getattr(config, name) < 1:
            raise DarlaError(f"{name} must be at least 1, got {getattr(config, name)}")
