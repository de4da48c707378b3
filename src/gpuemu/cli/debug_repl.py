"""The ``gpuemu debug`` prompt: list and show stored results, replay a seed, print tensor
slices and step through the validation stages of a case (see debug_case.py).

Every command is a ``do_*`` method whose docstring is its help: the first line is the
usage, the second the summary ``help`` lists. A command's error prints one line and
leaves the prompt running.
"""

from __future__ import annotations

import cmd
import re
from collections import deque
from pathlib import Path

import click
import numpy as np

from ..client import Client
from ..config import ProjectConfig, load_config
from ..dtypes import DType
from ..errors import GpuemuError
from ..validate import ValidationResult
from .debug_case import (
    STAGES, Case, Outputs, View, fmt_num, load_case, recompute, short_dtype, stage_verdict,
)

_U64 = 1 << 64
_OUTPUT_NAMES = ("actual", "expected")
COMMANDS = ("results", "failures", "show", "replay", "inputs", "step", "next", "help", "quit")
"""In the order ``help`` lists them."""


class DebugUsageError(GpuemuError, ValueError):
    """A command was given arguments it cannot use."""


def parse_seed(text: str) -> int:
    if not re.fullmatch(r"\d+", text) or int(text) >= _U64:
        raise DebugUsageError(f"SEED must be a whole number 0 .. 2**64-1 as `results` and"
                              f" `failures` print it, got {text!r}")
    return int(text)


def parse_index(text: str) -> tuple:
    """A numpy index from ``0,:4`` / ``[..., -1]`` / ``1:3, ::2``: ints, slices, ``...``."""
    parts = [p.strip() for p in text.strip().strip("[]").split(",")]
    index = []
    for part in parts:
        try:
            if part == "...":
                index.append(Ellipsis)
            elif ":" in part and len(bounds := part.split(":")) <= 3:
                index.append(slice(*(int(b) if b.strip() else None for b in bounds)))
            else:
                index.append(int(part))
        except ValueError:
            raise DebugUsageError(f"slice {text!r}: {part!r} is not an integer, a start:stop:step"
                                  " slice or ...; write e.g. 0,:4 or ...,-1") from None
    return tuple(index)


def describe_tensor(name: str, a: np.ndarray) -> str:
    """One line: dtype, shape, strides and value statistics of ``a``."""
    strides = [s // a.itemsize for s in a.strides]
    layout = "contiguous" if a.flags.c_contiguous else "non-contiguous"
    text = (f"{name}: {DType.from_numpy(a.dtype).short_name} {list(a.shape)} strides {strides}"
            f" ({layout})")
    if a.size:  # every DType converts to float64 (uint64/int64 beyond 2**53 round)
        values = a.astype(np.float64)
        finite = values[np.isfinite(values)]
        text += (f" min {fmt_num(finite.min() if finite.size else None)}"
                 f" max {fmt_num(finite.max() if finite.size else None)}"
                 f" mean {fmt_num(finite.mean() if finite.size else None)}"
                 f" NaN {int(np.isnan(values).sum())} Inf {int(np.isinf(values).sum())}")
    return text


class DebugRepl(cmd.Cmd):
    """The prompt. ``interactive`` False (commands given with -c) prints every stage at once."""

    intro = ("gpuemu debug: `results`, `failures`, `show SEED`, `replay SEED`, `inputs SEED`,"
             " `step SEED`; `help` for more, `quit` to leave.")
    prompt = "(gpuemu) "

    def __init__(self, client: Client, config_path: Path | None = None, *,
                 interactive: bool = True, color: bool = False, stdout=None):
        super().__init__(stdout=stdout)
        self.client, self.config_path = client, config_path
        self.interactive, self.color = interactive, color
        self.errors = 0
        self._pages: deque[list[str]] = deque()
        self._cases: dict[int, Case] = {}
        self._outputs: dict[int, Outputs | str] = {}
        self._project: ProjectConfig | str | None = None

    # -- plumbing ------------------------------------------------------------------------

    def say(self, *lines: str) -> None:
        for line in lines:
            self.stdout.write(line + "\n")
        self.stdout.flush()

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except GpuemuError as exc:
            self.errors += 1
            self.say(f"error: {exc}")
            return False

    def emptyline(self) -> bool:
        if self._pages:
            self._next_page()
        return False

    def default(self, line: str) -> bool:
        self.errors += 1
        self.say(f"unknown command {line.split()[0]!r}; `help` lists the commands")
        return False

    def _verdict(self, word: str) -> str:
        colors = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
        return click.style(word, fg=colors.get(word), bold=True) if self.color else word

    def _case(self, seed: int) -> Case:
        if seed not in self._cases:
            self._cases[seed] = load_case(self.client, seed)
        return self._cases[seed]

    def project(self) -> ProjectConfig | str:
        """The project config whose scripts this prompt runs, or why there is none."""
        if self._project is None:
            try:
                self._project = load_config(self.config_path)
            except GpuemuError as exc:
                self._project = f"cannot load the project config ({exc})"
        return self._project

    def outputs(self, seed: int) -> Outputs | str:
        """The case's outputs recomputed here, or why they cannot be."""
        if seed not in self._outputs:
            case, project = self._case(seed), self.project()
            op = project.ops.get(case.result.op_name) if isinstance(project, ProjectConfig) else None
            if case.inputs is None:
                self._outputs[seed] = f"its inputs cannot be regenerated: {case.why_no_inputs}"
            elif isinstance(project, str):
                self._outputs[seed] = project
            elif op is None:
                self._outputs[seed] = f"op {case.result.op_name!r} is not in {project.path}"
            elif op.op_script is None:
                self._outputs[seed] = (f"op {op.name!r} has no op_script to run here (its outputs"
                                       " came from a client)")
            else:
                self._outputs[seed] = recompute(op, project.root, case)
        return self._outputs[seed]

    # -- listing -------------------------------------------------------------------------

    def _row(self, r: ValidationResult) -> str:
        kinds = ", ".join(dict.fromkeys(r.failure_kinds)) or "-"
        shape = "-" if r.shape is None else str(r.shape)
        return (f"{r.seed:<20}  {r.op_name:<16} {self._verdict('PASS' if r.passed else 'FAIL')}"
                f"    {short_dtype(r.dtype):<9} {shape:<14} {fmt_num(r.max_diff):<9}  {kinds}")

    def _listing(self, arg: str, what: str) -> tuple[int, str | None]:
        args = arg.split()
        limit = int(args.pop(0)) if args and args[0].isdigit() else 20
        if len(args) > 1 or limit < 1:
            raise DebugUsageError(f"usage: {what} [N] [OP], N >= 1; got {arg!r}")
        return limit, (args[0] if args else None)

    def _table(self, results: list[ValidationResult], empty: str) -> None:
        if not results:
            self.say(empty)
            return
        self.say(f"{'SEED':<20}  {'OP':<16} {'RESULT':<6}  {'DTYPE':<9} {'SHAPE':<14}"
                 f" {'MAX DIFF':<9}  FAILURES")
        self.say(*(self._row(r) for r in results))

    def do_results(self, arg: str) -> None:
        """results [N] [OP]
        The N newest stored results (default 20), of one op if OP is given."""
        limit, op = self._listing(arg, "results")
        self._table(self.client.list_results(limit=limit, op_name=op), "no stored results yet")

    def do_failures(self, arg: str) -> None:
        """failures [N] [OP]
        The N newest stored failures (default 20), of one op if OP is given."""
        limit, op = self._listing(arg, "failures")
        failures = self.client.failure_summaries(limit=limit, op_name=op)
        self._table([f.result for f in failures if f.result is not None], "no stored failures")

    # -- one case ------------------------------------------------------------------------

    def _one_seed(self, arg: str, usage: str) -> int:
        args = arg.split()
        if len(args) != 1:
            raise DebugUsageError(f"usage: {usage}")
        return parse_seed(args[0])

    def _show(self, r: ValidationResult) -> None:
        head = f"{r.op_name}  seed {r.seed}  {self._verdict('PASS' if r.passed else 'FAIL')}"
        if r.dtype or r.shape is not None:
            head += f"  ({short_dtype(r.dtype)} {r.shape}, {r.duration_ms:.1f} ms)"
        lines = [head]
        if r.atol is not None:
            lines.append(f"  tolerance: atol={fmt_num(r.atol)} rtol={fmt_num(r.rtol)};"
                         f" max abs diff {fmt_num(r.max_diff)}, max rel diff {fmt_num(r.max_rel_diff)}")
        lines += [f"  {f.kind}: {f.message}" for f in r.failures]
        if (m := r.mismatch) is not None:
            lines.append(f"  mismatch: {m.mismatched} of {m.total} elements ({m.percent:.2f}%);"
                         f" worst abs diff {fmt_num(m.max_abs_diff)} at {m.max_abs_index} (actual"
                         f" {fmt_num(m.actual_at_max)}, expected {fmt_num(m.expected_at_max)}), worst rel"
                         f" diff {fmt_num(m.max_rel_diff)} at {m.max_rel_index}")
        if (info := r.repro_info) is not None:
            lines += [f"  input {k}: {short_dtype(info.input_dtypes.get(k))} {shape} strides"
                      f" {info.input_strides.get(k)}" for k, shape in info.input_shapes.items()]
            if info.kwargs:
                lines.append(f"  kwargs: {info.kwargs}")
            if info.command:
                lines.append(f"  replay: {info.command}")
        self.say(*lines)

    def do_show(self, arg: str) -> None:
        """show SEED
        A stored result in full: failures, mismatch report, inputs, the replay command."""
        seed = self._one_seed(arg, "show SEED")
        self._show(self._case(seed).result)

    def do_replay(self, arg: str) -> None:
        """replay SEED
        Run the case again in the daemon (Reproduce) and show the new verdict."""
        seed = self._one_seed(arg, "replay SEED")
        again = self.client.reproduce_case(seed)
        self.say(f"seed {seed}: {'still fails' if again.still_fails else 'passes now'}")
        self._show(again.result)

    def do_inputs(self, arg: str) -> None:
        """inputs SEED [NAME] [SLICE]
        A case's tensors (NAME: an input, or actual/expected, run here); SLICE like 0,:4."""
        args = arg.split(maxsplit=2)
        if not args:
            raise DebugUsageError("usage: inputs SEED [NAME] [SLICE]")
        seed = parse_seed(args[0])
        case = self._case(seed)
        if len(args) == 1:
            self._tensor_summary(seed, case)
            return
        name, tensor = args[1], self._tensor(seed, case, args[1])
        index = parse_index(args[2]) if len(args) == 3 else ()
        try:
            part = tensor[index]
        except (IndexError, TypeError) as exc:
            raise DebugUsageError(f"{name}{list(tensor.shape)}[{args[2]}]: {exc}") from None
        label = f"{name}[{args[2]}]" if index else name
        if np.ndim(part) == 0:
            self.say(f"{label} = {part!s}")  # str: float32 digits, not float64's
        else:
            self.say(f"{label}: shape {list(part.shape)}",
                     np.array2string(part, threshold=400, edgeitems=4, max_line_width=100))

    def _tensor_summary(self, seed: int, case: Case) -> None:
        if case.inputs is None:
            info = case.result.repro_info
            self.say(f"the inputs of seed {seed} are not available here: {case.why_no_inputs}")
            if info is not None:
                self.say(*(f"{k}: {short_dtype(info.input_dtypes.get(k))} {s} strides {info.input_strides.get(k)}"
                           " (as stored)" for k, s in info.input_shapes.items()))
            return
        self.say(f"inputs of seed {seed}, regenerated by the daemon:",
                 *(describe_tensor(k, v) for k, v in case.inputs.items()),
                 f"`inputs {seed} NAME [SLICE]` prints values; NAME may also be actual or"
                 " expected (the op's and the reference's outputs, run here)")

    def _tensor(self, seed: int, case: Case, name: str) -> np.ndarray:
        if case.inputs is not None and name in case.inputs:
            return case.inputs[name]
        if name in _OUTPUT_NAMES:
            outputs = self.outputs(seed)
            if isinstance(outputs, str):
                raise DebugUsageError(f"cannot compute the outputs of seed {seed}: {outputs}")
            tensor = getattr(outputs, name)
            if tensor is None:
                raise DebugUsageError(f"seed {seed} has no {name} output: "
                                      + "; ".join(f.message for f in outputs.result.failures))
            return tensor
        if case.inputs is None:
            raise DebugUsageError(f"the inputs of seed {seed} are not available here:"
                                  f" {case.why_no_inputs}")
        raise DebugUsageError(f"seed {seed} has no tensor {name!r}; it has"
                              f" {', '.join([*case.inputs, *_OUTPUT_NAMES])}")

    # -- stepping ------------------------------------------------------------------------

    def do_step(self, arg: str) -> None:
        """step [SEED [all]]
        Walk a case's validation stages one at a time: Enter or `next` shows the next."""
        args = arg.split()
        if not args:
            if not self._pages:
                raise DebugUsageError("usage: step SEED [all] (nothing is being stepped through)")
            self._next_page()
            return
        if len(args) > 2 or args[1:] not in ([], ["all"]):
            raise DebugUsageError("usage: step SEED [all]")
        seed = parse_seed(args[0])
        view, source = self._view(seed)
        self._pages = deque(self._stage_page(i, stage, view) for i, stage in enumerate(STAGES))
        self._pages.append(self._summary(seed, view))
        self.say(f"{view.result.op_name} seed {seed}: {source}")
        if len(args) == 2 or not self.interactive:
            while self._pages:
                self.say(*self._pages.popleft())
        else:
            self._next_page()

    def do_next(self, arg: str) -> None:
        """next
        The next stage of the case being stepped through (an empty line does the same)."""
        self.do_step("")

    def _next_page(self) -> None:
        self.say(*self._pages.popleft())
        if self._pages and self.interactive:
            self.say("  (Enter or `next`: next stage)")

    def _view(self, seed: int) -> tuple[View, str]:
        case, outputs = self._case(seed), self.outputs(seed)
        project = self.project()
        op = project.ops.get(case.result.op_name) if isinstance(project, ProjectConfig) else None
        if isinstance(outputs, str):
            return View(case.result, op), f"stages of the daemon's stored result, because {outputs}"
        return (View(outputs.result, op, outputs.actual, outputs.expected),
                f"recomputed here on the regenerated inputs ({op.op_script.name} against"
                f" {op.reference.name})")

    def _stage_page(self, i: int, stage, view: View) -> list[str]:
        verdict = stage_verdict(stage, view)
        head = f"  [{i + 1}/{len(STAGES)}] {stage.name:<10} {self._verdict(verdict)}"
        if verdict == "SKIP":
            return [head, "      skipped: the op's output was not compared (see the failure above)"]
        return [head, *(f"      {line}" for line in stage.describe(view))]

    def _summary(self, seed: int, view: View) -> list[str]:
        r, stored = view.result, self._case(seed).result
        kinds = ", ".join(dict.fromkeys(r.failure_kinds))
        lines = [f"  verdict: {self._verdict('PASS' if r.passed else 'FAIL')}"
                 + (f" ({kinds})" if kinds else "")]
        if r is not stored and (r.passed, set(r.failure_kinds)) != (stored.passed,
                                                                   set(stored.failure_kinds)):
            lines.append(f"  note: the daemon stored {'PASS' if stored.passed else 'FAIL'}"
                         f" ({', '.join(stored.failure_kinds) or 'no failures'}) for this seed; the"
                         " op script, the reference or the config changed since, or the daemon"
                         " serves another project")
        return lines

    # -- the rest ------------------------------------------------------------------------

    def do_help(self, arg: str) -> None:
        """help [COMMAND]
        The commands, or one command's help."""
        if arg and arg not in COMMANDS:
            raise DebugUsageError(f"no command {arg!r}; `help` lists the commands")
        for name in [arg] if arg else COMMANDS:
            usage, summary = (line.strip() for line in getattr(self, f"do_{name}").__doc__.splitlines()[:2])
            self.say(f"  {usage:<28} {summary}")

    def do_quit(self, arg: str) -> bool:
        """quit
        Leave (also: exit, Ctrl-D)."""
        return True

    do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:
        self.say("")
        return True
