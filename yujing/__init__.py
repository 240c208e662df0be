"""yujing 预警: the application shell (settings, command line, console and API)."""

from importlib import metadata

__version__ = metadata.version("yujing")
