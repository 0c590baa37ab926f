"""A price file's column of text as numbers: the one decimal convention the whole column follows.

Spreadsheets write quoted numbers with separators: 87,508.83 (a comma for thousands), 87.508,83 or
0,5 (a comma for decimals). A column is read with one convention, decided from the values only one
of them reads; a value both read differently (434,334) or a column mixing them is refused in one line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

# The forms of a quoted spreadsheet number with a comma (or dots for thousands), sign aside.
NUMBER_FORMS = {
    "thousands comma": r"[1-9]\d{0,2}(?:,\d{3})+\.\d+|[1-9]\d{0,2}(?:,\d{3}){2,}",  # 87,508.83 or 1,234,567
    "thousands dot": r"[1-9]\d{0,2}(?:\.\d{3})+,\d+|[1-9]\d{0,2}(?:\.\d{3}){2,}",   # 87.508,83 or 1.234.567
    "comma3": r"[1-9]\d{0,2},\d{3}",                                                # 434,334: either
    "decimal comma": r"\d+,\d+",                                                     # 0,5 or 12,3456
}


def plain_numbers(text: pd.Series, column: str, path) -> pd.Series:
    """The column's numbers with a decimal point and no thousands separators.

    Quoted spreadsheet numbers have commas: 87,508.83 (commas for thousands) or 87.508,83 and
    434,334 (a comma for decimals, dots for thousands). The convention is decided for the whole
    column, from the values only one of them reads: 434,334 alone is 434334 or 434.334, and is
    refused. Values without a comma read with a decimal point, as every program writes them.
    """
    unsigned = text.str.replace(r"^[+-]", "", regex=True)
    form = {name: unsigned.str.fullmatch(pattern, na=False).to_numpy() for name, pattern in NUMBER_FORMS.items()}
    either = form["comma3"]
    us = form["thousands comma"]
    european = form["thousands dot"] | (form["decimal comma"] & ~either)
    point = (pd.to_numeric(text, errors="coerce").notna() & text.str.contains(".", regex=False, na=False)).to_numpy()
    if us.any() and european.any():
        raise _mixed(text, (us, "a comma for thousands"), (european, "a comma for decimals"), column, path)
    if european.any():
        if point.any():  # 12.5 cannot be European, 0,5 nothing else
            raise _mixed(text, (point, "a decimal point"), (european, "a decimal comma"), column, path)
        european |= either
        return text.where(~european, text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    if either.any() and not us.any():
        i = int(np.argmax(either))
        value = text.iloc[i]
        raise DataError(
            f"{path}: ambiguous numbers in column {column!r}: {value!r} (data row {i + 1}) reads as "
            f"{value.replace(',', '')} (thousands separator) or {value.replace(',', '.')} (decimal comma); "
            "write plain numbers with a decimal point and no thousands separator"
        )
    return text.where(~(us | either), text.str.replace(",", "", regex=False))


def _mixed(text: pd.Series, first, second, column: str, path) -> DataError:
    (a, how_a), (b, how_b) = first, second
    i, j = int(np.argmax(a)), int(np.argmax(b))
    return DataError(
        f"{path}: column {column!r} mixes number formats: {text.iloc[i]!r} (data row {i + 1}) has {how_a}, "
        f"{text.iloc[j]!r} (data row {j + 1}) {how_b}; write plain numbers with a decimal point and no "
        "thousands separator"
    )
