"""Exceptions of the application shell::

ingest.errors.YujingError
└── ConfigError        a configuration file is wrong: names the file, the key and the fix
"""

from __future__ import annotations

from pathlib import Path

from ingest.errors import YujingError

__all__ = ["ConfigError"]


class ConfigError(YujingError):
    """A configuration file is wrong.

    ``problems`` holds one ``(key, message)`` pair per problem found; all are reported at once.
    """

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = Path(path)
        self.problems = problems
        lines = [f"{self.path}: {len(problems)} problem(s)"]
        lines += [f"  {key}: {message}" for key, message in problems]
        super().__init__("\n".join(lines))
