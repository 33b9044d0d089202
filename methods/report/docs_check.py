"""Numbers quoted in the docs, checked against the records: a quoted value is followed by an invisible anchor that
says what it quotes, and the check recomputes that from the committed runs (through the same code as the tables and
the report), so a doc cannot drift from the files unnoticed.

    mean 99.06 ± 0.11<!-- check: cell | table2 | MNIST | Baseline | mean±std -->
    `not significant`<!-- check: comparison | t2-focusnet-beats-baseline | MNIST | verdict -->
    `open`<!-- check: claim | t2-focusnet-beats-baseline | verdict -->

What an anchor quotes:
    cell | <table> | <column> | <row> | <field>      field: mean, std, mean±std, final_mean, n, collapsed, seeds
                                                      (each seed's metric, collapsed ones included, in seed order),
                                                      final_seeds
    comparison | <claim> | <column> | <field>         any column of the report's comparisons (mean_diff, verdict,
                                                      final verdict, p_holm (better > worse), ...), or ci95 /
                                                      final ci95 (the interval's two ends)
    claim | <claim> | <field>                         any column of the report's claims (verdict, analogue verdict, ...)
A number matches when it equals the record's to the digits it is quoted with; a word (in backticks) exactly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from methods.report.comparison import build_report

_NUM = r"[-+−]?\d[\d.]*(?:e[-+]?\d+)?%?"
ANCHOR = re.compile(rf"(`[^`\n]+`|\[{_NUM}, {_NUM}\]|{_NUM}(?:\s*(?:±|/)\s*{_NUM})*)\s*<!-- check: (.*?) -->")
NUMBER = re.compile(r"[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass(frozen=True)
class Mismatch:
    path: Path
    line: int
    key: str
    quoted: str
    actual: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: quotes {self.quoted} for [{self.key}], the records give {self.actual}"


def anchors(text: str) -> list[tuple[int, str, str]]:
    """(line number, quoted text, key) of every anchor in a document."""
    found = []
    for match in ANCHOR.finditer(text):
        found.append((text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2).strip()))
    return found


def check_document(path: Path, report: dict) -> tuple[int, list[Mismatch]]:
    """How many anchors the document has, and those whose quoted value the records do not give."""
    text = path.read_text()
    found = anchors(text)
    if text.count("<!-- check:") != len(found):
        lines = [n + 1 for n, line in enumerate(text.splitlines()) if "<!-- check:" in line
                 and not any(a[0] == n + 1 for a in found)]
        return len(found), [Mismatch(path, line, "?", "nothing", "an anchor must follow the value it checks, "
                                                                  "a number or a `word`") for line in lines]
    mismatches = []
    for line, quoted, key in found:
        try:
            actual = lookup(report, key)
        except KeyError as error:
            mismatches.append(Mismatch(path, line, key, quoted, f"no such value ({error.args[0]})"))
            continue
        if not matches(quoted, actual):
            mismatches.append(Mismatch(path, line, key, quoted, _shown(actual)))
    return len(found), mismatches


def lookup(report: dict, key: str):
    """The value an anchor's key names: a number, a list of numbers or a string."""
    kind, *parts = [part.strip() for part in key.split("|")]
    if kind == "cell" and len(parts) == 4:
        return _cell_field(_cell(report, *parts[:3]), parts[3])
    if kind == "comparison" and len(parts) == 3:
        frame = report["comparisons"]
        rows = frame[(frame["claim"] == parts[0]) & (frame["column"] == parts[1])]
        if len(rows) != 1:
            raise KeyError(f"{len(rows)} comparisons of claim {parts[0]!r} in column {parts[1]!r}")
        row = rows.iloc[0]
        if parts[2] in ("ci95", "final ci95"):
            prefix = parts[2].removesuffix("ci95")
            return [row[f"{prefix}ci95 low"], row[f"{prefix}ci95 high"]]
        return _field(row, parts[2])
    if kind == "claim" and len(parts) == 2:
        rows = report["claims"][report["claims"]["claim"] == parts[0]]
        if len(rows) != 1:
            raise KeyError(f"no claim {parts[0]!r}")
        return _field(rows.iloc[0], parts[1])
    raise KeyError("a key reads 'cell | table | column | row | field', 'comparison | claim | column | field' or "
                   "'claim | claim | field'")


def _cell(report: dict, table: str, column: str, row: str):
    if table not in report["tables"]:
        raise KeyError(f"no table {table!r}")
    for value in report["tables"][table][1]:
        if value.cell.column == column and value.cell.row == row:
            return value
    raise KeyError(f"no cell {row!r} / {column!r} in {table}")


def _cell_field(value, field: str):
    fields = {
        "mean": lambda: value.mean, "std": lambda: value.std, "mean±std": lambda: [value.mean, value.std],
        "final_mean": lambda: value.final_mean, "n": lambda: len(value.values),
        "collapsed": lambda: len(value.collapsed),
        "seeds": lambda: [value.compared_by_seed[s] for s in sorted(value.compared_by_seed)],
        "final_seeds": lambda: [value.compared_final_by_seed[s] for s in sorted(value.compared_final_by_seed)],
    }
    if field not in fields:
        raise KeyError(f"cell field {field!r}: one of {', '.join(fields)}")
    return fields[field]()


def _field(row, field: str):
    if field not in row.index:
        raise KeyError(f"field {field!r}: one of {', '.join(row.index)}")
    return row[field]


def matches(quoted: str, actual) -> bool:
    if quoted.startswith("`"):
        return isinstance(actual, str) and quoted.strip("`") == actual
    expected = actual if isinstance(actual, list) else [actual]
    numbers = NUMBER.findall(quoted.replace("−", "-"))
    if len(numbers) != len(expected) or any(_missing(value) for value in expected):
        return False
    return all(_same_to_quoted_digits(text, float(value)) for text, value in zip(numbers, expected))


def _missing(value) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, float) and math.isnan(value))


def _same_to_quoted_digits(text: str, value: float) -> bool:
    """'99.06' matches 99.0600 and 99.0633 (what rounds to it), not 99.07; '2.35e-06' to its 3 digits."""
    mantissa = text.split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if "e" in text:
        exponent = int(text.split("e")[1])
        return abs(float(text) - value) <= 0.5 * 10 ** (exponent - decimals) * (1 + 1e-9)
    return abs(float(text) - value) <= 0.5 * 10 ** -decimals + 1e-9


def _shown(actual) -> str:
    if isinstance(actual, list):
        return " / ".join("—" if _missing(v) else f"{v:.4g}" for v in actual)
    return repr(actual) if isinstance(actual, str) else ("—" if _missing(actual) else f"{actual:.4g}")


def check_docs(paths: list[Path], root: Path = Path(".")) -> tuple[int, list[Mismatch]]:
    """Every anchor of the documents against the paper preset's records under root."""
    report = build_report("paper", root)
    total, mismatches = 0, []
    for path in paths:
        count, found = check_document(path, report)
        total, mismatches = total + count, mismatches + found
    return total, mismatches
