"""Appending rows to a CSV file that gets its header when it is new (training logs, the lineage record)."""
import csv
from pathlib import Path


def append_csv_row(path: Path, fields: list[str], row: dict) -> None:
    new = not Path(path).exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fields)
        if new:
            writer.writeheader()
        writer.writerow(row)
