"""yujing 预警: the application shell (settings, command line, later the console and API)."""

__version__ = "0.1.0"
