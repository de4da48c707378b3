"""Compares a kernel's metrics with a stored baseline.

Every compared metric is a resource (registers, spills, stack, shared/constant memory,
instructions, …), where more is worse: a metric that grew is a regression, one that
shrank an improvement. Metrics are compared per source (``ptxas.registers`` with
``ptxas.registers``), never across sources. A metric measured on one side only (say
ptxas was installed for the baseline but not now) cannot be compared: it is listed
under ``unchanged`` with None on the side that lacks it, and never fails a run.
"""

from __future__ import annotations

from collections.abc import Mapping

from .results import ArtifactDiff, MetricChange


def flatten_metrics(metrics: Mapping) -> dict[str, float]:
    """The comparable numbers of a metrics dict, keyed ``source.metric`` (``ptxas.registers``).

    Breakdowns (instruction mix, registers by type), text and flags are not compared.
    """
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        items = value.items() if isinstance(value, Mapping) else [(None, value)]
        for name, number in items:
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                flat[f"{key}.{name}" if name else key] = number
    return flat


class ArtifactDiffer:
    """Sorts each metric into regressions, improvements or unchanged."""

    def diff(self, baseline: Mapping, current: Mapping, *, tag: str, kernel_name: str,
             fail_on_regression: bool = False) -> ArtifactDiff:
        """``passed`` is False only when ``fail_on_regression`` and something grew."""
        before, after = flatten_metrics(baseline), flatten_metrics(current)
        buckets: dict[str, list[MetricChange]] = {"regressions": [], "improvements": [], "unchanged": []}
        for metric in sorted(before.keys() | after.keys()):
            old, new = before.get(metric), after.get(metric)
            change = MetricChange(metric=metric, baseline=old, current=new)
            if old is None or new is None or old == new:
                buckets["unchanged"].append(change)
            else:
                buckets["regressions" if new > old else "improvements"].append(change)
        return ArtifactDiff(tag=tag, kernel_name=kernel_name,
                            passed=not (fail_on_regression and buckets["regressions"]), **buckets)
