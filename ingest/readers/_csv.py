"""Reading a small published CSV whose header must be exactly the expected one."""

from __future__ import annotations

import csv
from pathlib import Path

from ingest.errors import SourceError

__all__ = ["read_csv_rows"]


def read_csv_rows(path: Path, source: str, header: tuple[str, ...], what: str) -> list[list[str]]:
    """The data rows (line 2 on) of the UTF-8 CSV at ``path`` after checking its header.

    ``what`` names the file this reader expects, for the fix in the error message.

    Raises
    ------
    SourceError
        If the file is missing or not UTF-8 text, or its first line is not ``header``.
    """
    location = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(
            source, location, "file not found", "check the path in the source configuration"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SourceError(
            source, location, f"cannot be read as UTF-8 text ({err})", "download it again"
        ) from None
    table = list(csv.reader(text.splitlines()))
    found = tuple(f.strip() for f in table[0]) if table else ()
    if found != header:
        raise SourceError(
            source,
            location,
            f"line 1: header {','.join(found)!r} is not {','.join(header)!r}",
            f"this reader reads {what}",
        )
    return table[1:]
