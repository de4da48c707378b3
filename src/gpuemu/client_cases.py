"""The Client's test-case methods: daemon-orchestrated and client-side execution (seed 004).

The daemon generates seeded cases (``get_test_case``/``get_test_batch``), the op runs
here -- maybe on a GPU -- and ``submit_output`` sends each output back to be checked
against the reference; ``fuzz_op_client_side`` is that loop. A mixin of Client.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from . import shm
from .client_results import case_record
from .engine.runs import Tally, run_each
from .engine.tracebacks import quote_traceback
from .errors import InvalidRequest
from .frameworks.base import adapter_for, get_adapter
from .protocol import (
    FinishFuzzRun, FuzzConfigPayload, FuzzHealth, FuzzResults, GetTestBatch, GetTestCase,
    OpSchemaPayload, SubmitOutput, TestBatch, TestCase,
)
from .readable import Record
from .rng import generate_seed
from .tensor import TensorData, from_numpy
from .validate.result import ValidationResult


def _wire(value: Any, socket: Path) -> TensorData:
    """``value`` for a request to the daemon on ``socket``, which is on this host (the
    socket is ipc): large tensors through its shared-memory directory (gpuemu.shm) when
    it has a trusted one, numpy arrays without a copy first; inline otherwise."""
    if isinstance(value, np.ndarray):
        return from_numpy(value, shared=_segments(value.nbytes, socket) or False)
    td = as_tensor_data(value)
    return shm.spill(td, _segments(len(td.data), socket))


def wire_all(values: list[Any], socket: Path) -> list[TensorData]:
    """``_wire`` of each value. Two or more large ones are copied into shared memory at
    once, on threads (numpy's copy lets go of the GIL): a 64 MiB ValidateOp sends its
    input and output 5-9% sooner on 2 cores (docs/performance.md)."""
    large = sum(getattr(v, "nbytes", 0) >= shm.MIN_BYTES for v in values)
    threads = min(large, os.cpu_count() or 1)
    if threads < 2:
        return [_wire(v, socket) for v in values]
    with ThreadPoolExecutor(threads, thread_name_prefix="gpuemu-wire") as pool:
        return list(pool.map(lambda v: _wire(v, socket), values))


def _segments(nbytes: int, socket: Path) -> Path | None:
    return shm.locate(socket) if nbytes >= shm.MIN_BYTES else None


def as_tensor_data(value: Any) -> TensorData:
    """A TensorData for a numpy array, a torch/JAX/TensorFlow tensor (any device), or
    anything np.asarray accepts."""
    return value if isinstance(value, TensorData) else adapter_for(value).to_tensor_data(value)


def _fuzz_config(value: FuzzConfigPayload | Mapping[str, Any] | None) -> FuzzConfigPayload | None:
    if value is None or isinstance(value, FuzzConfigPayload):
        return value
    try:
        return msgspec.convert(dict(value), FuzzConfigPayload)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"fuzz_config: {exc}", field="fuzz_config") from None


class CaseMethods:
    """Client methods for cases the daemon generates (needs Client's ``_expect``, ``_with_tensors``
    and ``validate_op``)."""

    def test_case(self, op_name: str, seed: int | None = None,
                  fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None) -> TestCase:
        """The daemon's TestCase reply itself (inputs as TensorData, for adapters)."""
        return self._expect(GetTestCase(op_name=op_name, seed=seed,
                                        fuzz_config=_fuzz_config(fuzz_config)), TestCase)

    def test_cases(self, op_name: str, count: int = 10, seed: int | None = None,
                   fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None,
                   start: int = 0) -> list[TestCase]:
        """Cases ``start .. start+count-1`` of the run with root ``seed``, as TestCase replies."""
        return self._expect(GetTestBatch(op_name=op_name, count=count, seed=seed, start=start,
                                         fuzz_config=_fuzz_config(fuzz_config)), TestBatch).cases

    def get_test_case(self, op_name: str, seed: int | None = None,
                      fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None) -> Record:
        """The case named by ``seed`` (None: a fresh one) as a dict, also readable by
        attribute: ``seed``, ``inputs`` (numpy arrays), ``shape``, ``dtype``, ``layout``,
        ``op_name``, ``kwargs``, ``distribution``."""
        return case_record(self.test_case(op_name, seed, fuzz_config))

    def get_test_batch(self, op_name: str, count: int = 10, seed: int | None = None,
                       op_schema: OpSchemaPayload | Mapping[str, Any] | None = None,
                       dtypes: list[str] | None = None, *, seeds: list[int] | None = None,
                       fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None,
                       start: int = 0) -> list[Record]:
        """``count`` cases of the run with root ``seed`` (as get_test_case returns them), or
        with ``seeds`` exactly the cases those seeds name. ``op_schema`` and ``dtypes``
        override the op's fuzz config."""
        if op_schema is not None or dtypes is not None:
            base = msgspec.to_builtins(_fuzz_config(fuzz_config)) if fuzz_config else {}
            extra = {"op_schema": op_schema, "dtypes": dtypes}
            fuzz_config = {**base, **{k: v for k, v in extra.items() if v is not None}}
        if seeds is not None:
            return [self.get_test_case(op_name, s, fuzz_config) for s in seeds]
        return [case_record(c) for c in self.test_cases(op_name, count, seed, fuzz_config, start)]

    def submit_output(self, op_name: str, inputs: Mapping[str, Any] | int | None = None,
                      output: Any = None, seed: int | None = None, *,
                      fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None,
                      **kwargs: Any) -> ValidationResult:
        """Validate the output you computed for the case named by ``seed``.

        Both of the seeds' forms: ``submit_output(op_name, seed, output)`` (the daemon
        regenerates the case's inputs from its seed) and ``submit_output(op_name, inputs,
        output, seed, **kwargs)`` (the reference runs on exactly ``inputs`` and ``kwargs``)."""
        if inputs is not None and not isinstance(inputs, Mapping):
            if seed is not None:
                raise TypeError(f"submit_output({op_name!r}): two seeds given ({inputs} and "
                                f"seed={seed}); give the case's seed once")
            inputs, seed = None, inputs
        if seed is None or output is None:
            raise TypeError(f"submit_output({op_name!r}) needs the case's seed and your output:"
                            " submit_output(op_name, seed, output)")
        if inputs is not None:
            if fuzz_config is not None:
                raise TypeError("submit_output: fuzz_config regenerates a case's inputs; with "
                                "inputs given there is nothing to regenerate: drop one")
            return self.validate_op(op_name, inputs, output, seed=seed, kwargs=kwargs)
        if kwargs:
            raise TypeError(f"submit_output: kwargs {sorted(kwargs)} go with inputs; a case "
                            "named by its seed has the kwargs of the op's config")
        req = SubmitOutput(op_name=op_name, seed=seed, output=_wire(output, self.socket_path),
                           fuzz_config=_fuzz_config(fuzz_config))
        return self._with_tensors(req, [req.output]).result

    def fuzz_op_client_side(self, op_name: str, run_op: Callable[..., Any] | None = None,
                            iterations: int = 100, seed: int | None = None,
                            fail_fast: bool = False,
                            op_schema: OpSchemaPayload | Mapping[str, Any] | None = None,
                            dtypes: list[str] | None = None, batch: int = 32,
                            framework: str | None = None,
                            op_fn: Callable[..., Any] | None = None) -> FuzzResults:
        """Fuzz an op that runs here (maybe on a GPU): the daemon hands out seeded cases,
        ``run_op(inputs, **kwargs)`` (seed 002 calls it ``op_fn``) computes each output, the
        daemon validates it. ``framework`` ("torch", "jax", "tensorflow") hands ``run_op``
        its inputs as that framework's tensors (CPU, layout kept where the framework has
        one) instead of numpy.

        An exception in ``run_op`` is recorded as an ExecutionError failure of that case
        (with its traceback), not raised, so one bad case does not end the run. The results
        carry the run's coverage and health, as a script-based fuzz run's do.
        """
        if (run_op is None) == (op_fn is None):
            raise TypeError(f"fuzz_op_client_side({op_name!r}): give the op to run once, as "
                            "run_op or op_fn")
        run_op = run_op or op_fn
        schema = (op_schema if op_schema is None or isinstance(op_schema, OpSchemaPayload)
                  else msgspec.convert(dict(op_schema), OpSchemaPayload))
        cfg = FuzzConfigPayload(dtypes=dtypes, op_schema=schema)
        decode = get_adapter(framework or "numpy").from_tensor_data
        root = generate_seed() if seed is None else seed

        def cases():  # fetched a batch at a time, as the run takes them
            for first in range(0, iterations, batch):
                yield from self.test_cases(op_name, min(batch, iterations - first), root, cfg,
                                           first)

        def judge(case: TestCase) -> ValidationResult:
            inputs = {k: decode(v, f"inputs.{k}") for k, v in case.inputs.items()}
            try:
                output, error = run_op(inputs, **case.kwargs), None
            except Exception:
                output, error = None, quote_traceback(traceback.format_exc())
            submit = SubmitOutput(op_name=op_name, seed=case.seed, fuzz_config=cfg, error=error,
                                  run=root, output=None if error else _wire(output, self.socket_path))
            return self._with_tensors(submit, [submit.output]).result

        tally = run_each(cases(), judge, Tally(fail_fast=fail_fast))
        health = None
        if tally.done:
            reply = self._expect(FinishFuzzRun(op_name=op_name, run=root), FuzzHealth)
            health = (reply.coverage, reply.health, reply.vacuous)
        return tally.results(op_name, root, health)
