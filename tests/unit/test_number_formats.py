"""Excel number formats applied to cell values (``services.extractor.number_formats``)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.extractor.number_formats import shown


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (1599.99, "#,##0.00", "1,599.99"),
        (-1599.99, '"$"#,##0.00_);[Red]\\("$"#,##0.00\\)', "($1,599.99)"),
        (0.025, "0%", "3%"),  # halves away from zero, as Excel rounds
        (0.025, "0.00%", "2.50%"),
        (198356388.0, "0.00E+00", "1.98E+08"),
        (0.000123, "0.00E+00", "1.23E-04"),
        (2.5, "# ?/?", "2 1/2"),
        (19.99, '0\\ "dollars and"\\ .00\\ "cents"', "19 dollars and .99 cents"),
        (1234567.0, '#,##0,"K"', "1,235K"),
        (12.5, "[$€-407] #,##0.00", "€ 12.50"),
        (-3.0, '0;-0;"zero"', "-3"),
        (0.0, '0;-0;"zero"', "zero"),
        (-7.0, "0.0", "-7.0"),
        (dt.datetime(2009, 10, 3, 20, 21), "m/d/yy", "2009-10-03"),
        (dt.datetime(1992, 12, 28, 18, 15), "h:mm AM/PM", "18:15"),
        (dt.datetime(2007, 5, 17, 4, 20), '"At" h:mm "on" dddd mmmm d, yyyy', "2007-05-17 04:20"),
    ],
)
def test_a_value_is_shown_as_its_format_says(value: object, code: str, text: str) -> None:
    assert shown(value, code) == text


def test_what_a_format_does_not_change_is_left_to_the_default() -> None:
    assert shown(True, "0.00") is None
    assert shown("text", "0.00") is None
    assert shown(float("nan"), "0.00") is None
    assert shown(dt.datetime(2020, 1, 1), "0.00") is None  # not a date format
