"""Numbers and dates as an XLSX sheet shows them: each cell's number format (from
``xl/styles.xml`` and the cell's style) applied to the value calamine reads, so that
a chunk says "2.50%" and "($1,599.99)" where the sheet does, not 0.025 and -1599.99.

Written here: ssf, the Python port of SheetJS's formatter, has had no release since
2020 and fails to start with the Babel this project pins (``KeyError: 'decimal'``);
openpyxl reads a cell's format code but does not apply it. Covered: literals,
currency symbols, thousands separators, decimals, scaling commas, percent,
scientific notation, fractions and sections for negative numbers; dates keep ISO
order (a format's day-month order is a locale's), to the minute or second when the
format shows a time. Colours, conditions and locales are not applied.
"""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import functools
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree

BUILT_IN = {
    1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 5: '"$"#,##0_);("$"#,##0)',
    6: '"$"#,##0_);[Red]("$"#,##0)', 7: '"$"#,##0.00_);("$"#,##0.00)',
    8: '"$"#,##0.00_);[Red]("$"#,##0.00)', 9: "0%", 10: "0.00%", 11: "0.00E+00",
    12: "# ?/?", 13: "# ??/??", 14: "yyyy-mm-dd", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy",
    18: "h:mm AM/PM", 19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm",
    37: "#,##0 ;(#,##0)", 38: "#,##0 ;[Red](#,##0)", 39: "#,##0.00;(#,##0.00)",
    40: "#,##0.00;[Red](#,##0.00)", 45: "mm:ss", 46: "[h]:mm:ss", 47: "mm:ss.0",
    48: "##0.0E+0", 49: "@",
}  # fmt: skip
"""Excel's format codes by built-in id (the ones a file names without defining)."""
MAX_STYLED = 5_000_000
"""Cells whose formats are kept per sheet (as many as a sheet may have)."""
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# A styled cell's reference and style, in either order (cells without a style are
# passed over by the regular expression engine, not by Python).
_STYLED = (
    re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"[^>]*?\bs="([0-9]{1,6})"'),
    re.compile(rb'<(?:\w+:)?c\s[^>]*?\bs="([0-9]{1,6})"[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"'),
)
_TOKEN = re.compile(r'"[^"]*"|\\.|_.|\*.|\[[^\]]*\]|E[+-]|[0#?]|.', re.DOTALL)
_DATE_PARTS = re.compile(r"[ymdhs]", re.IGNORECASE)
_STEPS = [decimal.Decimal(1).scaleb(-n) for n in range(31)]

Formats = dict[tuple[int, int], str]
"""A sheet's format codes by (row, column), counted from 0; cells of General left out."""


def read(path: str) -> dict[str, Formats]:
    """Each sheet's format codes, by sheet name."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        codes = _styles(archive) if "xl/styles.xml" in names else []
        if not any(codes):
            return {}
        return {
            name: _cells(archive, member, codes)
            for name, member in _sheets(archive)
            if member in names
        }


def shown(value: object, code: str) -> str | None:
    """``value`` as ``code`` shows it; None where the default shows it as well."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return _moment(value, code)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    sections = _sections(code)
    if value < 0 and len(sections) > 1 and sections[1]:
        return _number(-float(value), sections[1]).strip()
    if value == 0 and len(sections) > 2:
        return _number(0.0, sections[2]).strip()
    return ("-" if value < 0 else "") + _number(abs(float(value)), sections[0]).strip()


def _styles(archive: zipfile.ZipFile) -> list[str]:
    """The format code of each cell style (``s``), "" for General."""
    root = ElementTree.fromstring(archive.read("xl/styles.xml"))
    custom = {
        int(f.get("numFmtId", "0")): f.get("formatCode", "") for f in root.iter(f"{_MAIN}numFmt")
    }
    styles = root.find(f"{_MAIN}cellXfs")
    codes = []
    for xf in [] if styles is None else styles.findall(f"{_MAIN}xf"):
        number = int(xf.get("numFmtId", "0"))
        code = custom.get(number) or BUILT_IN.get(number, "")
        codes.append("" if code.lower() == "general" else code)
    return codes


def _sheets(archive: zipfile.ZipFile) -> Iterator[tuple[str, str]]:
    """(name, member) of each sheet, through the workbook's relationships."""
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    for sheet in book.iter(f"{_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_RELS}id"), "")
        yield (
            sheet.get("name", ""),
            target.lstrip("/") if target.startswith("/") else (f"xl/{target}"),
        )


def _cells(archive: zipfile.ZipFile, member: str, codes: list[str]) -> Formats:
    """The format code of each styled cell of a sheet, read as a stream."""
    found: Formats = {}
    tail = b""
    with archive.open(member) as f:
        while block := f.read(1 << 20):
            data = tail + block
            cut = data.rfind(b"<")
            matches = [(c, r, s) for c, r, s in _STYLED[0].findall(data, 0, cut)]
            matches += [(c, r, s) for s, c, r in _STYLED[1].findall(data, 0, cut)]
            for column, row, style in matches:
                code = codes[int(style)] if int(style) < len(codes) else ""
                if code:
                    found[int(row) - 1, column_index(column)] = code
            if len(found) > MAX_STYLED:
                break
            tail = data[cut:]
    return found


@functools.lru_cache(maxsize=4096)
def column_index(letters: bytes) -> int:
    """A column's index from its letters in a cell reference (A is 0)."""
    return functools.reduce(lambda n, ch: n * 26 + ch - 64, letters, 0) - 1


@functools.lru_cache(maxsize=512)
def _sections(code: str) -> tuple[str, ...]:
    """The code's sections: positive; negative; zero; text."""
    sections = [""]
    for token in _TOKEN.findall(code):
        if token == ";":
            sections.append("")
        else:
            sections[-1] += token
    return tuple(sections)


@dataclass(frozen=True)
class _Plan:
    """A section of a number format, analysed once (a sheet repeats few formats)."""

    tokens: tuple[str, ...]
    kind: str
    """"literal" (no digits), "scientific", "fraction" or "fixed"."""
    scale: float = 1.0
    """Percent signs multiply by 100 each, commas after the digits divide by 1000."""
    grouped: bool = False
    places: int = 0
    zeros: int = 0
    """The integer's '0' placeholders: its least number of digits."""
    whole: tuple[str | None, ...] = ()
    """Before the decimal point: literals, and None where the integer goes."""
    part: tuple[str | None, ...] | None = None
    """After it (None without one): literals, and None for each decimal digit."""
    trim: bool = False
    """Only '#' after the point: trailing zeros are not shown."""


@functools.lru_cache(maxsize=512)
def _plan(section: str) -> _Plan:
    tokens = tuple(
        t for t in _TOKEN.findall(section) if not (t.startswith("[") and not t.startswith("[$"))
    )
    percent = 100.0 ** sum(1 for t in tokens if t == "%")
    if not any(t in "0#?" for t in tokens):
        return _Plan(tokens, "literal")
    if any(t in ("E+", "E-") for t in tokens):
        return _Plan(tokens, "scientific", percent)
    if "/" in tokens:
        return _Plan(tokens, "fraction", percent)
    dot = tokens.index(".") if "." in tokens else len(tokens)
    whole, part = tokens[:dot], tokens[dot + 1 :]
    digits = [i for i, t in enumerate(whole) if t in "0#?"]
    scaling = 0
    for t in whole[digits[-1] + 1 :] if digits else ():
        if t != ",":
            break
        scaling += 1  # each comma after the last digit divides by a thousand
    pieces: list[str | None] = []
    for i, t in enumerate(whole):
        if i in digits:
            pieces += [None] if i == digits[0] else []
        elif not (t == "," and digits and digits[0] < i <= digits[-1] + scaling):
            pieces.append(_literal(t))
    slots = [t for t in part if t in "0#?"]
    return _Plan(
        tokens, "fixed", percent / 1000**scaling,
        grouped="," in whole[: digits[-1]] if digits else False,
        places=min(len(slots), 30), zeros=sum(1 for i in digits if whole[i] == "0"),
        whole=tuple(pieces),
        part=None if dot == len(tokens) else tuple(
            None if t in "0#?" else _literal(t) for t in part
        ),
        trim=bool(slots) and all(t == "#" for t in slots),
    )  # fmt: skip


def _number(value: float, section: str) -> str:
    plan = _plan(section)
    if plan.kind == "literal":
        return "".join(_literal(t) for t in plan.tokens) or _general(value)
    value *= plan.scale
    if plan.kind == "scientific":
        return _scientific(value, list(plan.tokens))
    if plan.kind == "fraction":
        return _fraction(value, list(plan.tokens))
    # Halves round away from zero, as in Excel (2.5 % shown as "3%", not "2%").
    rounded = decimal.Decimal(repr(value)).quantize(_STEPS[plan.places], decimal.ROUND_HALF_UP)
    text = f"{rounded:,.{plan.places}f}" if plan.grouped else f"{rounded:.{plan.places}f}"
    integer, _, fraction = text.partition(".")
    if integer == "0" and not plan.zeros:
        integer = ""
    integer = integer.rjust(plan.zeros, "0")
    out = [integer if piece is None else piece for piece in plan.whole]
    if plan.part is not None:
        kept = fraction.rstrip("0") if plan.trim else fraction
        out.append("." if kept or not plan.trim else "")
        figures = iter(kept)
        out += [next(figures, "") if piece is None else piece for piece in plan.part]
    return "".join(out)


def _scientific(value: float, tokens: list[str]) -> str:
    at = next(i for i, t in enumerate(tokens) if t in ("E+", "E-"))
    mantissa, exponent = tokens[:at], tokens[at + 1 :]
    places = 0
    if "." in mantissa:
        places = sum(1 for t in mantissa[mantissa.index(".") + 1 :] if t in "0#?")
    power = math.floor(math.log10(value)) if value else 0
    figures = f"{value / 10**power:.{places}f}"
    if figures.startswith("10"):  # rounding carried into a new digit
        power += 1
        figures = f"{value / 10**power:.{places}f}"
    width = sum(1 for t in exponent if t in "0#?")
    sign = "-" if power < 0 else ("+" if tokens[at] == "E+" else "")
    return f"{figures}E{sign}{abs(power):0{width}d}"


def _fraction(value: float, tokens: list[str]) -> str:
    slash = tokens.index("/")
    width = sum(1 for t in tokens[slash + 1 :] if t in "0#?")
    whole = int(value) if any(t in "0#?" for t in tokens[: slash - width]) else 0
    part = fractions.Fraction(value - whole).limit_denominator(10**width - 1)
    if part.numerator == 0:
        return str(whole)
    head = f"{whole} " if whole else ""
    return f"{head}{part.numerator}/{part.denominator}"


def _moment(value: dt.datetime | dt.date | dt.time, code: str) -> str | None:
    """A date or time in ISO order, with what the format shows of it."""
    plain = "".join(t for t in _TOKEN.findall(code.split(";")[0]) if len(t) == 1)
    parts = {c.lower() for c in _DATE_PARTS.findall(plain)}
    if not parts:
        return None
    seconds = "s" in parts
    timed = "h" in parts or seconds
    dated = bool(parts & {"y", "d"}) or ("m" in parts and not timed)
    if isinstance(value, dt.time):
        return value.isoformat("seconds" if seconds else "minutes")
    day = value.date() if isinstance(value, dt.datetime) else value
    if not timed:
        return day.isoformat()
    moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
    clock = moment.time().isoformat("seconds" if seconds else "minutes")
    return f"{day.isoformat()} {clock}" if dated else clock


def _literal(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1]
    if token.startswith("\\"):
        return token[1:]
    if token.startswith("[$"):  # a currency: [$€-407]
        return token[2:-1].split("-")[0]
    if token.startswith(("_", "*")) or token in ("@",):
        return " " if token.startswith("_") else ""
    return token


def _general(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.10g}"
