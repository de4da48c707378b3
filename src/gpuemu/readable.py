"""Results that read both ways: ``result.passed`` and ``result["passed"]``.

Seed 002 documents data classes read by attribute (``results.passed``), while the
original client's own code and examples read the same values as dicts
(``failure.failures[0]['message']``, ``case["seed"]``). Our results are msgspec
Structs; this mixin gives them the read-only mapping half so that both spellings work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class KeyAccess:
    """Read-only mapping access to an object's fields (and its documented properties)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key.startswith("_"):
            raise KeyError(key)
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(f"{type(self).__name__} has no field {key!r}; its fields are "
                           f"{list(self.keys())}") from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return list(getattr(self, "__struct_fields__", ())) + list(
            getattr(type(self), "__key_aliases__", ()))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, getattr(self, k)) for k in self.keys())


class Record(dict):
    """A dict whose keys also read as attributes (``case.seed`` is ``case["seed"]``): what
    the client returns where the seeds return a plain dict."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{name!r}: this record has keys {list(self)}") from None
