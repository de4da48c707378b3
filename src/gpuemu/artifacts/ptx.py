"""PTX text -> per-function metrics: registers, local/shared memory, instruction mix.

The statements come from ptx_scan.py; here they are understood: header directives,
module variables, and in each ``.entry``/``.func`` body the register declarations,
local and shared arrays, instructions and calls. Errors name the line of the original
file. The register counts are PTX's virtual registers, not the hardware's: ptxas.py
has those.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidRequest, KernelNotFound, PtxParseError
from .ptx_scan import BLOCK_HEADER, LABELS, VARIABLE, Item, blank_comments, declared_variables, items

_FUNCTION = re.compile(r"(?:\.\w+\s+)*\.(entry|func)\s*(?:\([^)]*\)\s*)?([\w$]+)")
_GUARD = re.compile(r"@!?%?[\w$]+\s+")
_MNEMONIC = re.compile(r"[a-z][\w]*(?:\.[\w:]+)*(?=\s|$)")
_CALLEE = re.compile(r"\s*(?:\([^)]*\)\s*,\s*)?([\w$]+)")
_REG = re.compile(r"\.reg\s+(?:\.v(\d+)\s+)?\.(\w+)\s+(.+)", re.S)
_REG_NAME = re.compile(r"([%\w$]+)(?:\s*<\s*(\d+)\s*>)?")
_MODULE_IGNORED = (".pragma", ".alias")


def symbol_names(symbol: str) -> set[str]:
    """Names a kernel may be called by: the symbol, and for an Itanium-mangled C++ symbol
    (``_Z4reluPfi``, ``_ZN2ns4reluEPf``) its base name and qualified name."""
    names = {symbol}
    if not symbol.startswith("_Z"):
        return names
    i, parts = 2 + symbol.startswith("_ZN"), []
    while (m := re.match(r"\d+", symbol[i:])) and (n := int(m.group())) > 0:
        parts.append(symbol[i + m.end(): i + m.end() + n])
        i += m.end() + n
        if not symbol.startswith("_ZN"):
            break
    if parts:
        names |= {parts[-1], "::".join(parts)}
    return names


@dataclass(frozen=True, slots=True)
class PtxVariable:
    """A module-level ``.global``/``.shared``/``.const`` variable (``dynamic``: an extern ``[]`` array)."""

    name: str
    space: str
    bytes: int
    dynamic: bool
    line: int


@dataclass(frozen=True, slots=True)
class PtxFunction:
    """One ``.entry`` (a kernel) or ``.func`` body and what it declares and executes."""

    name: str
    kind: str  # "entry" | "func"
    line: int
    registers_by_type: dict[str, int]
    mnemonics: dict[str, int]
    """Full instruction names, e.g. ``{"ld.global.nc.f32": 3}``."""
    local_memory_bytes: int
    shared_memory_bytes: int
    """Its own ``.shared`` declarations plus the module-level ones its body names."""
    dynamic_shared_memory: bool
    """It uses an extern ``.shared`` array, sized at launch (Triton kernels do)."""
    constant_memory_bytes: int
    calls: tuple[str, ...]
    body: str = field(repr=False)
    """The body with comments blanked; ``body_line`` is the line its first character is on."""
    body_line: int

    @property
    def registers(self) -> int:
        """Declared virtual registers, predicates excluded (ptxas counts those apart too)."""
        return sum(n for t, n in self.registers_by_type.items() if t != "pred")

    @property
    def predicate_registers(self) -> int:
        return self.registers_by_type.get("pred", 0)

    @property
    def instructions(self) -> int:
        return sum(self.mnemonics.values())

    @property
    def instruction_mix(self) -> dict[str, int]:
        """Instruction count per opcode (``ld``, ``fma``, ``bra``, …), most frequent first."""
        mix = Counter[str]()
        for mnemonic, n in self.mnemonics.items():
            mix[mnemonic.split(".", 1)[0]] += n
        return dict(mix.most_common())

    def _local_access(self, op: str) -> int:
        return sum(n for m, n in self.mnemonics.items()
                   if m.split(".", 1)[0] == op and "local" in m.split(".")[1:])

    @property
    def ld_local(self) -> int:
        return self._local_access("ld")

    @property
    def st_local(self) -> int:
        return self._local_access("st")

    def find(self, pattern: str) -> list[tuple[int, str]]:
        """``(line, matched line's text)`` of every match of the regex ``pattern`` in the body."""
        hits = []
        for m in re.finditer(pattern, self.body, re.M):
            start = self.body.rfind("\n", 0, m.start()) + 1
            end = self.body.find("\n", m.start())
            line = self.body_line + self.body.count("\n", 0, m.start())
            hits.append((line, self.body[start:end if end >= 0 else None].strip()))
        return hits

    def metrics(self) -> dict:
        """The numbers the linter checks and the differ compares (all from the PTX text)."""
        return {
            "registers": self.registers, "predicate_registers": self.predicate_registers,
            "registers_by_type": dict(self.registers_by_type),
            "ld_local": self.ld_local, "st_local": self.st_local,
            "local_memory_bytes": self.local_memory_bytes,
            "shared_memory_bytes": self.shared_memory_bytes,
            "dynamic_shared_memory": self.dynamic_shared_memory,
            "constant_memory_bytes": self.constant_memory_bytes,
            "instructions": self.instructions, "instruction_mix": self.instruction_mix,
            "calls": list(self.calls),
        }


@dataclass(frozen=True, slots=True)
class PtxModule:
    """A parsed PTX file: header directives, module variables and every function."""

    source: str
    version: str
    target: str
    address_size: int | None
    functions: tuple[PtxFunction, ...]
    variables: tuple[PtxVariable, ...]
    text: str = field(repr=False)

    @property
    def kernels(self) -> tuple[PtxFunction, ...]:
        """The ``.entry`` functions, in file order."""
        return tuple(f for f in self.functions if f.kind == "entry")

    def function(self, name: str) -> PtxFunction:
        """The function (entry or .func) whose symbol is ``name``."""
        for f in self.functions:
            if f.name == name:
                return f
        raise KernelNotFound(f"{self.source} has no function {name!r}; it defines "
                             f"{', '.join(f.name for f in self.functions) or 'none'}")

    def resolve(self, name: str | None = None) -> PtxFunction:
        """The kernel called ``name`` (its symbol, or a mangled symbol's C++ name); when the
        file has one kernel, that one whatever it is called; ``name`` None needs exactly one."""
        kernels = self.kernels
        listed = ", ".join(k.name for k in kernels)
        if not kernels:
            raise KernelNotFound(f"{self.source} defines no kernel (no .entry); lint a PTX file "
                                 "compiled from a __global__ function")
        if name is not None:
            matching = [k for k in kernels if name in symbol_names(k.name)]
            chosen = [k for k in matching if k.name == name] or matching or (
                list(kernels) if len(kernels) == 1 else [])
            if len(chosen) == 1:
                return chosen[0]
            if chosen:
                raise InvalidRequest(f"{name!r} matches {len(chosen)} kernels of {self.source} "
                                     f"({', '.join(k.name for k in chosen)}); name one by its "
                                     "symbol", field="kernel_name")
            raise KernelNotFound(f"{self.source} has no kernel {name!r}; its kernels: {listed}")
        if len(kernels) > 1:
            raise InvalidRequest(f"{self.source} defines {len(kernels)} kernels ({listed}); "
                                 "name the one to lint with kernel_name", field="kernel_name")
        return kernels[0]


class _FunctionBuilder:
    def __init__(self, name: str, kind: str, line: int, open_pos: int):
        self.name, self.kind, self.line, self.open_pos = name, kind, line, open_pos
        self.registers: Counter[str] = Counter()
        self.mnemonics: Counter[str] = Counter()
        self.local = self.shared = 0
        self.calls: list[str] = []
        self.close_pos = -1


class PtxParser:
    """Parses PTX text into a PtxModule; malformed input raises PtxParseError naming the line."""

    def parse_file(self, path: Path | str) -> PtxModule:
        path = Path(path)
        return self.parse(path.read_text(), source=str(path))

    def parse(self, text: str, source: str = "<ptx>") -> PtxModule:
        return _Parse(text, source).run()


class _Parse:
    def __init__(self, text: str, source: str):
        self.text, self.source = text, source
        self.code = blank_comments(text)
        self.newlines = [m.start() for m in re.finditer("\n", self.code)]
        self.header: dict[str, tuple[str, int]] = {}
        self.variables: dict[str, PtxVariable] = {}
        self.done: list[_FunctionBuilder] = []
        self.stack: list[tuple[str, int]] = []
        self.fn: _FunctionBuilder | None = None

    def line(self, pos: int) -> int:
        return bisect_left(self.newlines, pos) + 1

    def error(self, pos: int, message: str) -> PtxParseError:
        return PtxParseError(f"{self.source}:{self.line(pos)}: {message}")

    def run(self) -> PtxModule:
        for item in items(self.code):
            in_section = any(kind == "section" for kind, _ in self.stack)
            if item.kind == "close":
                self.close(item)
            elif item.kind == "open":
                self.open(item, in_section)
            elif in_section:
                continue
            elif item.kind == "line":
                self.line_directive(item)
            elif item.kind == "tail":
                raise self.error(item.pos, f"statement {item.text[:60]!r} is not terminated by ';'")
            elif self.fn is None:
                self.module_statement(item)
            else:
                self.body_statement(self.fn, item)
        if self.stack:
            kind, pos = self.stack[-1]
            what = f"the body of {self.fn.name!r}" if self.fn else f"this {kind} block"
            raise self.error(pos, f"{what} is never closed: a '}}' is missing")
        for directive in (".version", ".target"):
            if directive not in self.header:
                raise self.error(0, f"no {directive} directive: {self.source} is not PTX "
                                    "(a PTX file starts with .version and .target)")
        return self.module()

    def line_directive(self, item: Item) -> None:
        name, *rest = item.text.split(None, 1)
        value = rest[0].strip() if rest else ""
        if name in (".file", ".loc"):
            return
        if self.fn is not None:
            raise self.error(item.pos, f"{name} inside the body of {self.fn.name!r}; it belongs at the top")
        if name == ".version" and not re.fullmatch(r"\d+\.\d+", value):
            raise self.error(item.pos, f".version {value!r} is not a version such as 8.8")
        if name == ".address_size" and value not in ("32", "64"):
            raise self.error(item.pos, f".address_size {value!r} must be 32 or 64")
        self.header[name] = (value.split(",")[0].strip(), item.pos)

    def open(self, item: Item, in_section: bool) -> None:
        if in_section or (self.stack and not item.text):
            self.stack.append(("section" if in_section else "block", item.pos))
            return
        if self.fn is not None:
            raise self.error(item.pos, f"{item.text[:40]!r} starts inside the body of {self.fn.name!r} "
                                       f"(opened at line {self.fn.line}): a '}}' is missing")
        if item.text.startswith(".section"):
            self.stack.append(("section", item.pos))
            return
        m = _FUNCTION.match(item.text)
        if m is None:
            raise self.error(item.pos, "'{' outside any function; a block at the top of a PTX file "
                                       "must be the body of a .entry or .func")
        brace = self.code.index("{", item.pos + len(item.text))
        self.fn = _FunctionBuilder(m.group(2), m.group(1), self.line(item.pos), brace)
        self.stack.append(("function", item.pos))

    def close(self, item: Item) -> None:
        if not self.stack:
            raise self.error(item.pos, "'}' without a matching '{'")
        kind, _ = self.stack.pop()
        if kind == "function":
            self.fn.close_pos = item.pos
            self.done.append(self.fn)
            self.fn = None

    def module_statement(self, item: Item) -> None:
        text = item.text
        for name, space, size, dynamic in declared_variables(text):
            self.variables[name] = PtxVariable(name, space, size, dynamic, self.line(item.pos))
        if VARIABLE.fullmatch(text) or BLOCK_HEADER.match(text) or text.startswith(_MODULE_IGNORED):
            return
        raise self.error(item.pos, f"unexpected {text[:60]!r} outside any function; expected a "
                                   "directive such as .entry, .func, .global or .shared")

    def body_statement(self, fn: _FunctionBuilder, item: Item) -> None:
        label = LABELS.match(item.text)
        text = item.text[label.end():] if label else item.text
        guard = _GUARD.match(text)
        text = text[guard.end():] if guard else text
        if not text:
            return
        if text.startswith("."):
            if text.startswith(".reg"):
                self.registers(fn, text, item.pos)
            for _, space, size, _ in declared_variables(text):
                fn.local += size if space == "local" else 0
                fn.shared += size if space == "shared" else 0
            return
        m = _MNEMONIC.match(text)
        if m is None:
            raise self.error(item.pos, f"expected an instruction or a directive, got {text[:60]!r}")
        fn.mnemonics[m.group()] += 1
        if m.group().split(".", 1)[0] == "call":
            callee = _CALLEE.match(text, m.end())
            if callee:
                fn.calls.append(callee.group(1))

    def registers(self, fn: _FunctionBuilder, text: str, pos: int) -> None:
        m = _REG.fullmatch(text)
        names = [_REG_NAME.fullmatch(n.strip()) for n in m.group(3).split(",")] if m else [None]
        if m is None or not all(names):
            raise self.error(pos, f"cannot read the register declaration {text[:60]!r}; expected "
                                  "e.g. '.reg .f32 %f<12>;' or '.reg .b64 %SP;'")
        width = int(m.group(1) or 1)
        fn.registers[m.group(2)] += width * sum(int(n.group(2) or 1) for n in names)

    def module(self) -> PtxModule:
        functions = []
        for b in self.done:
            body = self.code[b.open_pos + 1:b.close_pos]
            used = [v for v in self.variables.values()
                    if re.search(rf"(?<![\w$]){re.escape(v.name)}(?![\w$])", body)]
            functions.append(PtxFunction(
                name=b.name, kind=b.kind, line=b.line, registers_by_type=dict(b.registers),
                mnemonics=dict(b.mnemonics), local_memory_bytes=b.local,
                shared_memory_bytes=b.shared + sum(v.bytes for v in used if v.space == "shared"),
                dynamic_shared_memory=any(v.dynamic for v in used if v.space == "shared"),
                constant_memory_bytes=sum(v.bytes for v in used if v.space == "const"),
                calls=tuple(dict.fromkeys(b.calls)), body=body, body_line=self.line(b.open_pos)))
        size = self.header.get(".address_size")
        return PtxModule(source=self.source, version=self.header[".version"][0],
                         target=self.header[".target"][0],
                         address_size=int(size[0]) if size else None, functions=tuple(functions),
                         variables=tuple(self.variables.values()), text=self.text)
