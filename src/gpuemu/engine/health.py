"""Fuzz-run health: what a run tried, and whether its pass is evidence of anything.

A run of a hundred passing cases proves nothing when every case was the same, when
nothing was compared (all outputs empty), when an op that outputs zeros would have
passed every case too, or when the configured layouts never reached the op (a
"transposed" draw on shapes that cannot be transposed falls back to another layout).
``RunHealth`` collects what each case tried while the run goes on and, at the end,
turns that into ``FuzzCoverage`` and ``HealthIssue``s: errors make the run vacuous (it
fails), warnings only inform. Single fuzz cases never fail for an impostor (their guard
runs in "report" mode): a run is vacuous when ONE impostor passes EVERY checked case,
since a case that an impostor passes is harmless when others catch it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ..dtypes import DType
from ..errors import InvalidRequest
from ..fuzz.cases import CaseSpec
from ..fuzz.config import FuzzConfig
from ..fuzz.failure import first_error_line
from ..fuzz.strategies import SIZE_CLASSES, size_classes
from ..coverage import FuzzCoverage
from .fuzz_results import HealthIssue
from ..validate import ValidationResult
from ..validate.guards import impostor_words

_CHAIN = ("channels_last", "transposed", "strided", "offset")
"""fuzz.cases.apply_layout's fallback order: a layout the shape cannot have becomes the next."""

_PERMS = {3: (0, 2, 1), 4: (0, 2, 3, 1)}  # channels_last as fuzz.cases applies it
_HAS: dict[str, Callable[[np.ndarray], bool]] = {
    "channels_last": lambda x: x.ndim in _PERMS and x.transpose(_PERMS[x.ndim]).flags.c_contiguous,
    "transposed": lambda x: x.ndim >= 2 and np.swapaxes(x, -1, -2).flags.c_contiguous,
}
"""Whether a non-contiguous input has a layout; any other non-contiguous one is strided."""


NOT_REACHED_MIN_DRAWS = 3
"""Draws of a dtype or layout that never reached the check before that is an error."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What the health check keeps of one case: small, so that a cluster node can send it
    back instead of the case's arrays."""

    layout: str
    inputs: bytes
    reference: bytes | None
    """None: the op raised before any check (so nothing was compared)."""
    empty: bool

    @property
    def ran(self) -> bool:
        return self.reference is not None


def observation(spec: CaseSpec, inputs: Mapping[str, np.ndarray],
                expected: np.ndarray | None) -> Observation:
    return Observation(layout=effective_layout(spec.layout, inputs),
                       inputs=_digest(inputs.values()),
                       reference=None if expected is None else _digest([expected]),
                       empty=expected is not None and expected.size == 0)



class Severity(StrEnum):
    """How much a health issue weighs: an error makes the run vacuous, a warning informs."""

    error = "error"
    warning = "warning"


class HealthKind(StrEnum):
    """What a health issue found (HealthIssue.kind on the wire)."""

    NothingChecked = "NothingChecked"
    IdenticalCases = "IdenticalCases"
    ConstantReference = "ConstantReference"
    ImpostorPasses = "ImpostorPasses"
    DtypeNotReached = "DtypeNotReached"
    LayoutNotReached = "LayoutNotReached"
    NotTried = "NotTried"

class RunHealth:
    """What the cases of one run tried; thread-safe (cases run in parallel), and
    order-free (counts and sets), so the verdict does not depend on timing."""

    def __init__(self, config: FuzzConfig, guard: bool = True):
        self._config, self._guard = config, guard
        self._lock = threading.Lock()
        self._n = Counter()  # cases, checked, filtered, empty, op_errors
        self._drawn = {key: Counter() for key in ("dtypes", "layouts", "distributions")}
        self._reached = {key: Counter() for key in ("dtypes", "layouts", "shapes", "impostors", "sizes")}
        self._inputs: set[bytes] = set()
        self._references: set[bytes] = set()
        self._dims: dict[str, set[int]] = {}
        self._lost = {key: Counter() for key in ("op_errors", "filtered", "empty")}  # by dtype
        self._op_error: dict[str, tuple[int, str]] = {}  # dtype -> (seed, error) of one case

    def observe(self, spec: CaseSpec, inputs: Mapping[str, np.ndarray],
                expected: np.ndarray | None, result: ValidationResult) -> None:
        """One case that ran: ``expected`` None means the op raised before any check."""
        self.record(spec, observation(spec, inputs, expected), result)

    def record(self, spec: CaseSpec, seen: Observation, result: ValidationResult) -> None:
        """One case that ran elsewhere (a cluster node), as ``observation`` summed it up."""
        with self._lock:
            self._tried(spec)
            self._reached["layouts"][seen.layout] += 1
            self._inputs.add(seen.inputs)
            if not seen.ran:
                self._n["op_errors"] += 1
                self._lost["op_errors"][spec.dtype] += 1
                self._keep_error(spec, result)
            elif seen.empty:
                self._n["empty"] += 1
                self._lost["empty"][spec.dtype] += 1
            else:
                self._n["checked"] += 1
                self._reached["dtypes"][spec.dtype] += 1
                self._reached["impostors"].update(result.impostors)
                self._references.add(seen.reference)

    def filtered(self, spec: CaseSpec) -> None:
        """One case the reference failed on (recorded as a failure by the caller)."""
        with self._lock:
            self._tried(spec)
            self._n["filtered"] += 1
            self._lost["filtered"][spec.dtype] += 1

    def _keep_error(self, spec: CaseSpec, result: ValidationResult) -> None:
        """The op's error in the case of lowest seed of its dtype: the same whatever the order
        the cases finished in."""
        kept = self._op_error.get(spec.dtype)
        if kept is None or spec.seed < kept[0]:
            message = next((f.message for f in result.failures), "")
            self._op_error[spec.dtype] = (spec.seed, first_error_line(message))

    def _tried(self, spec: CaseSpec) -> None:
        self._n["cases"] += 1
        for key, value in (("dtypes", spec.dtype), ("layouts", spec.layout),
                           ("distributions", spec.distribution)):
            self._drawn[key][value] += 1
        self._reached["sizes"].update(size_classes(next(iter(spec.shapes.values()), [])))
        self._reached["shapes"][" ".join(
            f"{name}={'x'.join(map(str, shape)) or 'scalar'}" for name, shape in spec.shapes.items())] += 1
        schema = self._config.schema
        for name, refs in (schema.inputs.items() if schema else ()):
            for ref, size in zip(refs, spec.shapes.get(name, ())):
                if isinstance(ref, str):
                    self._dims.setdefault(ref, set()).add(size)

    def coverage(self) -> FuzzCoverage:
        with self._lock:
            return FuzzCoverage(
                **{k: self._n[k] for k in ("cases", "checked", "filtered", "empty", "op_errors")},
                dtypes=_short(self._drawn["dtypes"]), layouts=dict(self._reached["layouts"]),
                distributions=dict(self._drawn["distributions"]),
                shapes=dict(self._reached["shapes"]), impostors=dict(self._reached["impostors"]),
                distinct_inputs=len(self._inputs), distinct_references=len(self._references),
                size_classes=dict(self._reached["sizes"]))

    def issues(self) -> list[HealthIssue]:
        """The run's health issues, errors first; none for a run of no cases."""
        with self._lock:
            if not self._n["cases"]:
                return []
            found = [issue for rule in _RULES for issue in rule(self)]
        return sorted(found, key=lambda i: i.severity != Severity.error)

    def verdict(self) -> tuple[FuzzCoverage, list[HealthIssue], bool]:
        """Coverage, issues, and whether the run is vacuous (an error among the issues)."""
        issues = self.issues()
        return self.coverage(), issues, any(i.severity == Severity.error for i in issues)

    # -- the rules: each yields the issues it finds -----------------------------------------

    def _nothing_checked(self):
        n = self._n
        if not n["checked"] and n["empty"]:
            yield HealthIssue(HealthKind.NothingChecked, f"none of the {n['cases']} cases compared any "
                              f"values: {n['empty']} had empty outputs, {n['filtered']} were "
                              "filtered (the reference failed); to fuzz shapes with no size-0"
                              f" dims, {self._config.keep_out_hint()}")

    def _identical(self):
        observed = self._n["cases"] - self._n["filtered"]
        if observed >= 2 and len(self._inputs) == 1:
            yield HealthIssue(HealthKind.IdenticalCases, f"all {observed} cases had identical inputs, so "
                              "the run tested one case over and over; widen the fuzz config "
                              "(shapes, distributions other than zeros, value_range)")

    def _constant_reference(self):
        checked = self._n["checked"]
        if self._guard and checked >= 2 and len(self._references) == 1 and len(self._inputs) > 1:
            yield HealthIssue(HealthKind.ConstantReference, f"the reference returned the same output in "
                              f"all {checked} checked cases although their inputs differed: an "
                              "op that ignores its inputs would pass; check that the reference "
                              "reads its inputs and that the inputs reach the values it uses")

    def _impostors(self):
        checked = self._n["checked"]
        for name, count in sorted(self._reached["impostors"].items()):
            if self._guard and checked and count == checked:
                what, fix = impostor_words(name)
                yield HealthIssue(HealthKind.ImpostorPasses, f"{what} would have passed all {checked} "
                                  f"checked cases, so this run cannot fail such an op; {fix} "
                                  "(or set vacuous_guard = false for the op)")

    def _unreached(self):
        for key, what in (("dtypes", "dtype"), ("layouts", "layout")):
            for value, drawn in sorted(self._drawn[key].items()):
                if value != "contiguous" and not self._reached[key][value]:
                    why = (self._why_unchecked(value) if key
                           == "dtypes" else " the shapes could not have it, so the inputs fell "
                           "back to " + ", ".join(sorted(set(self._reached["layouts"]) - {value}))
                           + " (transposed needs the last two dims > 1, channels_last 3-D or "
                           "4-D shapes with more than one channel)")
                    # A few unlucky draws in a short run are no evidence of a config that
                    # cannot reach the layout: an error only once it has had its chances,
                    # and only for layouts the op configured (the mix draws all of them).
                    yield HealthIssue(HealthKind(f"{what.capitalize()}NotReached"),
                                      f"{what} {_short_name(value)!r} was drawn in {drawn} cases "
                                      f"but never reached the check:{why}",
                                      Severity.error if drawn >= NOT_REACHED_MIN_DRAWS
                                      and (key == "dtypes" or "layouts" not in self._config.mix)
                                      else Severity.warning)

    def _why_unchecked(self, dtype: str) -> str:
        """What became of the cases of ``dtype``: the op raised, the reference failed, or
        the outputs were empty -- with the counts, and the op's error."""
        lost, drawn = self._lost, self._drawn["dtypes"][dtype]
        parts = [f"{what} in {'all ' if lost[key][dtype] == drawn else ''}{lost[key][dtype]}"
                 for key, what in (("op_errors", "the op script raised"),
                                   ("filtered", "the reference script failed"),
                                   ("empty", "the outputs were empty")) if lost[key][dtype]]
        why = " " + "; ".join(parts)
        if dtype in self._op_error:
            seed, error = self._op_error[dtype]
            why += (f" (seed {seed}: {error}); fix the op for this dtype, or drop the dtype from"
                    " the op's dtypes")
        elif lost["filtered"][dtype]:
            why += ("; fix the reference for this dtype (the failures show its error), or drop"
                    " the dtype from the op's dtypes")
        return why

    def _untried(self):
        config, cases = self._config, self._n["cases"]
        drawn = {**self._drawn, "size classes": self._reached["sizes"]}
        for key, configured in (("dtypes", [d.value for d in config.dtypes]),
                                ("layouts", config.layout_pool), ("distributions", config.distribution_pool),
                                ("size classes", SIZE_CLASSES if config.mixed_shapes else ())):
            missing = [_short_name(v) for v in configured if v not in drawn[key]]
            if missing:
                yield HealthIssue(HealthKind.NotTried, f"configured {key} {missing} were never drawn in "
                                  f"{cases} cases; run more iterations", severity=Severity.warning)
        for dim in config.schema.dims if config.schema else ():
            missing = sorted(set(dim.candidates) - self._dims.get(dim.name, set()))
            if missing:
                yield HealthIssue(HealthKind.NotTried, f"sizes {missing} of dim {dim.name!r} were never "
                                  f"drawn in {cases} cases; run more iterations", severity=Severity.warning)


_RULES = (RunHealth._nothing_checked, RunHealth._identical, RunHealth._constant_reference,
          RunHealth._impostors, RunHealth._unreached, RunHealth._untried)


class OpenRuns:
    """The health of client-driven fuzz runs in progress, by (op, root seed): their cases
    arrive one SubmitOutput at a time and FinishFuzzRun takes the total. Bounded, oldest
    evicted first, so clients that never finish a run cannot grow the daemon."""

    LIMIT = 64

    def __init__(self) -> None:
        self._runs: OrderedDict[tuple[str, int], RunHealth] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int], make: Callable[[], RunHealth]) -> RunHealth:
        with self._lock:
            if key not in self._runs:
                self._runs[key] = make()
                while len(self._runs) > self.LIMIT:
                    self._runs.popitem(last=False)
            self._runs.move_to_end(key)
            return self._runs[key]

    def pop(self, key: tuple[str, int]) -> RunHealth | None:
        with self._lock:
            return self._runs.pop(key, None)


def effective_layout(drawn: str, inputs: Mapping[str, np.ndarray]) -> str:
    """The layout the case's inputs really have: ``drawn`` when some input has it, else
    the fallback that the first non-empty input got (see ``_CHAIN``)."""
    arrays = [x for x in inputs.values() if x.size]
    if drawn == "contiguous" or not arrays:
        return drawn
    got = [_layout_of(x, drawn) for x in arrays]
    return drawn if drawn in got else got[0]


def _layout_of(x: np.ndarray, drawn: str) -> str:
    if x.flags.c_contiguous:
        return "offset"  # every fallback chain ends there
    return next((n for n in _CHAIN[_CHAIN.index(drawn):] if n in _HAS and _HAS[n](x)), "strided")


def _digest(arrays) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for x in arrays:
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(x.tobytes())  # C order whatever the layout; ml_dtypes have no buffer format
    return h.digest()


def _short_name(value: str) -> str:
    """dtypes as the config spells them (float32); layouts and distributions as they are."""
    try:
        return DType.parse(value).short_name
    except InvalidRequest:
        return value


def _short(counts: Counter) -> dict[str, int]:
    return {_short_name(k): v for k, v in counts.items()}
