"""What the report-writing benchmarks share: print a Markdown report, optionally write it.

Run as scripts (``python benchmarks/<name>.py``), the benchmarks find this module beside
them on ``sys.path``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from pathlib import Path

from ingest.storage import write_bytes_atomic

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The shared data folder: ``YUJING_DATA_ROOT`` or ``../shared/data`` beside the repo."""
    configured = os.environ.get("YUJING_DATA_ROOT")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def report_main(description: str | None, report: Callable[[Path], str]) -> None:
    """Parse ``--write PATH``, print ``report(data_root())`` and write it there atomically
    if asked."""
    parser = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    parser.add_argument("--write", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    text = report(data_root())
    print(text)
    if args.write is not None:
        write_bytes_atomic(args.write, text.encode("utf-8"))
