"""Table-driven checks for config tables: one converter per key, errors that point home.

A converter takes ``(value, where)`` and returns the checked value or raises a
ConfigError through ``where``, so every message names the file, the key path, the
value it got and what was expected. ``table`` runs a ``key -> converter`` spec over a
TOML table and rejects unknown keys (with a "did you mean" when one is close); the
defaults live in the dataclasses, so a spec only says how to read a key.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .dtypes import DType
from .errors import ConfigError, InvalidRequest
from .tolerances import ToleranceConfig

Conv = Callable[[Any, "Where"], Any]

_TOML_TYPES = (
    (bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"),
    ((list, tuple), "array"), (Mapping, "table"), ((_dt.date, _dt.time), "date/time"),
)


@dataclass(frozen=True, slots=True)
class Where:
    """A value's origin: the file as shown to the user, its key path, and the base for relative paths."""

    source: str
    base: Path
    key: str = ""
    wire: bool = False
    """A request's value: errors are InvalidRequest naming ``key`` (no file)."""

    @classmethod
    def of_file(cls, path: Path) -> Where:
        """The root of a file's keys, shown relative to the working directory when inside it."""
        path = Path(path).expanduser().resolve()
        try:
            shown = str(path.relative_to(Path.cwd()))
        except ValueError:
            shown = str(path)
        return cls(shown, path.parent)

    @classmethod
    def of_request(cls, key: str) -> Where:
        """A request's field (``fuzz_config``): the same checks, answered as InvalidRequest."""
        return cls("request", Path.cwd(), key, wire=True)

    def at(self, key: str) -> Where:
        return Where(self.source, self.base, f"{self.key}.{key}" if self.key else key, self.wire)

    def item(self, index: int, label: str | None = None) -> Where:
        suffix = f" ({label})" if label and not self.wire else ""
        return Where(self.source, self.base, f"{self.key}[{index}]{suffix}", self.wire)

    def error(self, problem: str) -> ConfigError | InvalidRequest:
        if self.wire:
            return InvalidRequest(f"{self.key}: {problem}", self.key)
        return ConfigError(f"{self.source}: {self.key}: {problem}" if self.key else f"{self.source}: {problem}")

    def expected(self, value: Any, what: str) -> NoReturn:
        raise self.error(f"expected {what}, got {show(value)}")


def show(value: Any) -> str:
    """``'5' (string)``: the value and its TOML type, so a quoted number is plain to see."""
    kind = next((name for types, name in _TOML_TYPES if isinstance(value, types)), type(value).__name__)
    return f"{value!r} ({kind})"


def suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(options: Iterable[str]) -> str:
    return "one of " + ", ".join(repr(o) for o in options)


def described(conv: Conv, what: str) -> Conv:
    """``conv`` labelled with what it accepts (``conv.what``): docs/config.md's type column."""
    conv.what = what.removeprefix("a ").removeprefix("an ")  # type: ignore[attr-defined]
    return conv


def what(conv: Conv) -> str:
    """What ``conv`` accepts, in words."""
    return getattr(conv, "what", "table")


# -- scalars -------------------------------------------------------------------------


def boolean(value: Any, where: Where) -> bool:
    if type(value) is bool:
        return value
    where.expected(value, "true or false")


def integer(lo: int | None = None, hi: int | None = None) -> Conv:
    """An integer in [lo, hi]; booleans and floats (even 3.0) are refused."""
    what = "an integer" + _bounds(lo, hi, ">=")

    def conv(value: Any, where: Where) -> int:
        if type(value) is not int or (lo is not None and value < lo) or (hi is not None and value > hi):
            where.expected(value, what)
        return value

    return described(conv, what)


def number(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Conv:
    """A finite number (an integer is taken as a float) >= lo, or > lo when ``above``."""
    what = "a finite number" + _bounds(lo, hi, ">" if above else ">=")

    def conv(value: Any, where: Where) -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            where.expected(value, what)
        low_ok = lo is None or (value > lo if above else value >= lo)
        if not low_ok or (hi is not None and value > hi):
            where.expected(value, what)
        return float(value)

    return described(conv, what)


def _bounds(lo: float | None, hi: float | None, low_op: str) -> str:
    parts = ([f"{low_op} {lo}"] if lo is not None else []) + ([f"<= {hi}"] if hi is not None else [])
    return f" {' and '.join(parts)}" if parts else ""


def text(value: Any, where: Where) -> str:
    if not isinstance(value, str):
        where.expected(value, "a string")
    return value


def name(value: Any, where: Where) -> str:
    """A non-empty string without surrounding spaces: op, kernel, input and dim names."""
    if not isinstance(value, str) or not value or value != value.strip():
        where.expected(value, "a non-empty name without leading or trailing spaces")
    return value


def choice(options: Iterable[str], aliases: Mapping[str, str] | None = None, *,
           ignore_case: bool = False) -> Conv:
    """One of ``options`` (``aliases`` map other spellings onto them; ``ignore_case`` also takes
    the original client's "Contiguous")."""
    options, aliases = tuple(options), dict(aliases or {})

    def conv(value: Any, where: Where) -> str:
        if ignore_case and isinstance(value, str) and value.lower() in options:
            return value.lower()
        if isinstance(value, str) and value in aliases:
            return aliases[value]
        if isinstance(value, str) and value in options:
            return value
        hint = suggest(value, [*options, *aliases]) if isinstance(value, str) else ""
        raise where.error(f"expected {one_of(options)}, got {show(value)}{hint}")

    return described(conv, one_of(options))


def dtype(value: Any, where: Where) -> DType:
    try:
        return DType.parse(value, field=where.key)
    except InvalidRequest:
        hint = suggest(value.lower(), [d.short_name for d in DType]) if isinstance(value, str) else ""
        raise where.error(
            f"unknown dtype {show(value)}{hint}; expected {one_of(d.short_name for d in DType)} "
            "(or the enum spelling, e.g. 'Float32')"
        ) from None


def path(*, must_exist: bool = False) -> Conv:
    """A path; a relative one starts from the directory of the file that names it."""

    def conv(value: Any, where: Where) -> Path:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            where.expected(value, "a non-empty path string")
        resolved = (where.base / Path(value).expanduser()).resolve()
        if must_exist and not resolved.is_file():
            raise where.error(
                f"file {str(value)!r} does not exist (looked for {resolved}); "
                f"fix the path, which is relative to {where.base}"
            )
        return resolved

    return described(conv, "path to an existing file" if must_exist else "path")


def matching(regex: str, what: str) -> Conv:
    """A string that matches ``regex`` in full; ``what`` describes it in the error."""
    compiled = re.compile(regex)

    def conv(value: Any, where: Where) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            where.expected(value, what)
        return value

    return described(conv, what)


described(boolean, "boolean")
described(text, "string")
described(name, "name")
described(dtype, "dtype")


def pattern(value: Any, where: Where) -> str:
    """A regular expression, compiled now so that a bad one fails at load time."""
    try:
        re.compile(text(value, where))
    except re.error as exc:
        raise where.error(f"invalid regular expression {value!r}: {exc}") from None
    return value


def tolerance(value: Any, where: Where) -> ToleranceConfig:
    """``1e-5`` (an absolute tolerance, rtol 0) or ``{ atol = 1e-5, rtol = 1e-5 }`` (a missing one is 0)."""
    if isinstance(value, ToleranceConfig):
        return value
    if isinstance(value, Mapping):
        parts = table(_TOLERANCE)(value, where)
        if not parts:
            raise where.error("expected atol and/or rtol in the table, got an empty table")
        return ToleranceConfig(atol=parts.get("atol", 0.0), rtol=parts.get("rtol", 0.0))
    if type(value) in (int, float):
        return ToleranceConfig(atol=number(0.0)(value, where), rtol=0.0)
    where.expected(value, "a number >= 0 (atol) or a table { atol = ..., rtol = ... }")


_TOLERANCE: dict[str, Conv] = {"atol": number(0.0), "rtol": number(0.0)}
described(pattern, "regular expression")
described(tolerance, "tolerance")


def json_value(value: Any, where: Where) -> Any:
    """A value a script can receive as JSON (no dates, no NaN/Infinity)."""
    if isinstance(value, Mapping):
        return {k: json_value(v, where.at(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v, where.item(i)) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        where.expected(value, "a finite number (scripts receive kwargs as JSON)")
    if value is None or isinstance(value, (str, int, float)):
        return value
    where.expected(value, "a string, number, boolean, array or table (scripts receive kwargs as JSON)")


described(json_value, "any value JSON can carry")


# -- containers ----------------------------------------------------------------------


def seq(item: Conv, *, nonempty: bool = False, unique: bool = False, length: int | None = None) -> Conv:
    """An array whose items all pass ``item``; returned as a tuple."""

    def conv(value: Any, where: Where) -> tuple:
        if not isinstance(value, (list, tuple)):
            where.expected(value, "an array")
        if nonempty and not value:
            where.expected(value, "a non-empty array")
        if length is not None and len(value) != length:
            where.expected(value, f"an array of {length} items")
        items = tuple(item(v, where.item(i)) for i, v in enumerate(value))
        repeat = next((i for i, x in enumerate(items) if unique and x in items[:i]), None)
        if repeat is not None:
            raise where.error(f"{value[repeat]!r} repeats an earlier entry of {list(value)!r}; list each once")
        return items

    rules = ["non-empty"] * nonempty + ["unique"] * unique + [f"{length} items"] * (length is not None)
    kind = f"array ({', '.join(rules)})" if rules else "array"
    return described(conv, f"{kind} of {what(item)}")


def mapping(key: Conv, value: Conv) -> Conv:
    """A table with free keys: each key passes ``key``, each value ``value``; two spellings of one key clash."""

    def conv(raw: Any, where: Where) -> dict:
        if not isinstance(raw, Mapping):
            where.expected(raw, "a table")
        out: dict = {}
        spelled: dict = {}
        for k, v in raw.items():
            at = where.at(str(k))
            parsed = key(k, at)
            if parsed in out:
                raise at.error(f"{spelled[parsed]!r} and {k!r} name the same entry; keep one")
            out[parsed], spelled[parsed] = value(v, at), k
        return out

    return described(conv, f"table of {what(key)} = {what(value)}")


def flag_set(options: Iterable[str]) -> Conv:
    """Names from ``options``: a list ``["a", "b"]`` or a table ``a = true`` (false entries dropped)."""
    options = tuple(options)
    pick = choice(options)

    def conv(value: Any, where: Where) -> tuple[str, ...]:
        if isinstance(value, Mapping):
            flags = mapping(pick, boolean)(value, where)
            return tuple(n for n, on in flags.items() if on)
        if isinstance(value, (list, tuple)):
            return tuple(dict.fromkeys(seq(pick)(value, where)))
        where.expected(value, f"a list such as [{options[0]!r}] or a table of name = true/false "
                              f"(names: {', '.join(options)})")

    return described(conv, f"array or table of flags: {one_of(options)}")


def table(spec: Mapping[str, Conv], *, required: Iterable[str] = (),
          aliases: Mapping[str, str] | None = None) -> Conv:
    """Check a table against ``spec``; return ``{key: converted}`` for the keys present.

    ``aliases`` maps another spelling onto a spec key; giving both spellings is an error.
    """
    aliases = dict(aliases or {})

    def conv(raw: Any, where: Where) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            where.expected(raw, "a table")
        out: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for key, value in raw.items():
            canonical = aliases.get(key, key)
            if canonical not in spec:
                raise where.at(key).error(
                    f"unknown key{suggest(key, [*spec, *aliases])}; expected {one_of(spec)}"
                )
            if canonical in out:
                raise where.at(key).error(f"{spelled[canonical]!r} and {key!r} are the same setting; keep one")
            out[canonical], spelled[canonical] = spec[canonical](value, where.at(key)), key
        missing = [k for k in required if k not in out]
        if missing:
            raise where.error(f"missing required key {missing[0]!r}")
        return out

    return conv


def record(cls: type, spec: Mapping[str, Conv], *, aliases: Mapping[str, str] | None = None,
           check: Callable[[Any, Where], None] | None = None) -> Conv:
    """``table(spec)`` built into ``cls`` (its defaults fill the rest), then ``check(obj, where)``."""
    read = table(spec, aliases=aliases)

    def conv(raw: Any, where: Where) -> Any:
        obj = cls(**read(raw, where))
        if check is not None:
            check(obj, where)
        return obj

    return conv
