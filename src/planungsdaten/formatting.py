"""German number and date formatting for planner-facing text (report, CSV, HTML pages)."""

from __future__ import annotations

import datetime as dt
import math


def format_number(value: float | None, decimals: int = 1) -> str:
    """``1234.56`` → ``"1.234,6"``; missing values as ``"–"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def decimal_comma(value: float | None, decimals: int | None = None) -> str:
    """A number for German CSV files: decimal comma, no thousands separator, empty if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = repr(float(value)) if decimals is None else f"{value:.{decimals}f}"
    if decimals is None and text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", ",")


def format_date(value: dt.date | dt.datetime | str | None) -> str:
    """``2022-05-15`` → ``"15.05.2022"``; text that is no ISO date is returned as it is."""
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10]).strftime("%d.%m.%Y")
        except ValueError:
            return value
    return value.strftime("%d.%m.%Y")
