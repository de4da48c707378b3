"""The lexical layer of the PTX parser: statements, line directives, blocks, declarations.

PTX is read as a stream of statements: ``;``-terminated ones, the few directives that
end at the line (``.version``, ``.target``, ``.loc``, …) and ``{ }`` blocks (function
bodies, call sequences, debug sections). Braces inside a statement (vector operands,
initializers) belong to the statement. Comments are blanked first, keeping every
offset, so the parser can name the line of the original file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from math import prod

_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.S)
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[;{}\n]')
_LINE_DIRECTIVES = frozenset({".version", ".target", ".address_size", ".file", ".loc"})
LABELS = re.compile(r"\s*(?:[$%\w.]+\s*:(?!:)\s*)+")
BLOCK_HEADER = re.compile(r"(?:\.\w+\s+)*\.(?:entry|func)\b|\.section\b")
VARIABLE = re.compile(r"(?:\.(?:visible|extern|weak|common)\s+)*\.(global|shared|const|local)\b(.*)", re.S)
_VAR_NAME = re.compile(r"([\w$%]+)\s*((?:\[\s*\d*\s*\]\s*)*)")
_VAR_TYPE = re.compile(r"\.(pred|b?f16x2|bf16|[bsuf](?:8|16|32|64|128))\b")
_VEC = re.compile(r"\.v(\d+)\b")


def _type_bytes(ptx_type: str) -> int:
    """Width of a PTX fundamental type in bytes (``f16x2`` is two halves, ``pred`` one byte)."""
    if ptx_type == "pred":
        return 1
    if ptx_type.endswith("x2"):
        return 4
    return int(re.sub(r"\D", "", ptx_type)) // 8


@dataclass(frozen=True, slots=True)
class Item:
    kind: str  # "stmt" | "line" | "open" | "close" | "tail"
    text: str
    pos: int   # first character of the statement, or the brace


def blank_comments(text: str) -> str:
    """Comments replaced by spaces (newlines kept), so offsets and lines stay those of ``text``."""
    return _COMMENT_OR_STRING.sub(
        lambda m: m.group() if m.group()[0] == '"' else re.sub(r"[^\n]", " ", m.group()), text)


def items(code: str) -> Iterator[Item]:
    """Split comment-free PTX into statements, line directives and block braces."""
    start, inline = 0, 0
    code += "\n"  # the last line ends like the others
    for m in _TOKEN.finditer(code):
        tok = m.group()
        if tok[0] == '"':
            continue
        pending = code[start:m.start()]
        body = pending.lstrip()
        pos = m.start() - len(body)
        if tok == "\n":
            label = LABELS.match(body)
            rest = body[label.end():] if label else body
            if not rest.strip():
                start = m.end()
            elif rest.split(None, 1)[0] in _LINE_DIRECTIVES:
                yield Item("line", rest.strip(), pos)
                start = m.end()
        elif tok == ";":
            yield Item("stmt", body.rstrip(), pos)
            start = m.end()
        elif tok == "{":
            if inline or (body.strip() and not BLOCK_HEADER.match(body)):
                inline += 1
                continue
            yield Item("open", body.strip(), pos if body.strip() else m.start())
            start = m.end()
        elif inline:
            inline -= 1
        else:
            if body.strip():
                yield Item("tail", body.rstrip(), pos)
            yield Item("close", "", m.start())
            start = m.end()
    rest = code[start:]
    if rest.strip():
        yield Item("tail", rest.strip(), start + len(rest) - len(rest.lstrip()))


def declared_variables(text: str) -> list[tuple[str, str, int, bool]]:
    """``(name, space, bytes, dynamic)`` for each variable a declaration statement declares."""
    m = VARIABLE.fullmatch(text)
    if m is None:
        return []
    space, rest = m.group(1), m.group(2).split("=", 1)[0]
    ptx_type = _VAR_TYPE.search(rest)
    vec = _VEC.search(rest)
    width = (_type_bytes(ptx_type.group(1)) if ptx_type else 0) * (int(vec.group(1)) if vec else 1)
    names_at = ptx_type.end() if ptx_type else 0
    out = []
    for decl in rest[names_at:].split(","):
        nm = _VAR_NAME.fullmatch(decl.strip())
        if nm:
            dims = re.findall(r"\[\s*(\d*)\s*\]", nm.group(2))
            dynamic = any(d == "" for d in dims)
            size = 0 if dynamic else width * prod(int(d) for d in dims)
            out.append((nm.group(1), space, size, dynamic))
    return out
