"""CSV output shared by the commands and benchmarks (one row = one dict)."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(path: str | Path, rows: list[dict], fields=None) -> None:
    """Write ``rows`` with a header (``fields``, default the keys of the first row)."""
    fields = list(fields) if fields is not None else list(rows[0]) if rows else []
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
