"""Exceptions of the application shell::

ingest.errors.YujingError
├── ConfigError        a configuration file is wrong: names the file, the key and the fix
└── ComputeError       the configured dask scheduler cannot be reached (``on_unreachable: fail``)
"""

from __future__ import annotations

from pathlib import Path

from ingest.errors import YujingError

__all__ = ["ComputeError", "ConfigError"]


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


class ComputeError(YujingError):
    """The configured dask scheduler cannot be reached and ``compute.on_unreachable`` is
    ``fail`` (:func:`yujing.compute.dask_compute`)."""
