"""A fuzzing campaign over 26 ops on one daemon, as issue 26 ran it: each op has its own
reference and op script (half warm-capable, half in the specification's JSON form, so
both warm workers and fork servers pile up), fuzzed one after the other. Before warm
processes were released, every script kept its workers for the daemon's life (8 ops:
32 processes, 5.7 GB). The budget is [daemon] max_worker_memory_mb of the benchmark's
project; the figure is the peak resident memory of all the daemon's descendants (its
workers, fork servers and their children), sampled from /proc every 20 ms.
"""

from __future__ import annotations

import threading
from pathlib import Path

from gpuemu.engine.limits import rss_bytes

from .project import SCRIPT, SEED_SCRIPTS, Session, running_daemon
from .report import Figure, Section, Target

OPS = 26
BUDGET_MB = 512
MAX_WORKERS = 6
SAMPLE_S = 0.02
BODY = 'return np.tanh(inputs["x"]) * {k}'
SEED_OP = SEED_SCRIPTS["softmax_op_seed.py"]


def write_campaign(root: Path) -> Path:
    """26 ops, each with its own two scripts; even ones warm, odd ones seed-style."""
    (root / "scripts").mkdir(parents=True)
    entries = [f'[project]\nname = "campaign"\n\n[daemon]\nmax_worker_memory_mb = {BUDGET_MB}\n'
               f"max_workers = {MAX_WORKERS}\n"]
    for i in range(OPS):
        for role, name in (("ref", "reference"), ("op", "run")):
            text = (SCRIPT.format(name=name, body=BODY.format(k=1))
                    if i % 2 == 0 else SEED_SCRIPTS[f"softmax_{role}_seed.py"])
            (root / "scripts" / f"{role}{i}.py").write_text(text)
        entries.append(f'[[ops]]\nname = "op{i}"\nreference = "scripts/ref{i}.py"\n'
                       f'op_script = "scripts/op{i}.py"\ninput_names = ["x"]\n'
                       "[ops.fuzz]\nbatch_sizes = [2]\nseq_lengths = [8]\nhidden_dims = [32]\n"
                       "edge_case_prob = 0.0\n")
    config = root / "gpuemu.toml"
    config.write_text("\n".join(entries))
    return config


def descendants_rss(pid: int) -> int:
    """Resident bytes of every descendant of ``pid`` (not ``pid`` itself), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    family, grew = {pid}, True
    while grew:
        kids = {p for p, parent in parents.items() if parent in family and p not in family}
        family |= kids
        grew = bool(kids)
    return sum(rss_bytes(p) for p in family - {pid})


def run(session: Session) -> Section:
    cases = session.reps(20, 4)
    peak, stop = [0], threading.Event()
    with running_daemon(make_project=write_campaign) as daemon, daemon.client() as client:
        def sample() -> None:
            while not stop.wait(SAMPLE_S):
                peak[0] = max(peak[0], descendants_rss(daemon.proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            for i in range(OPS):
                res = client.fuzz_op(f"op{i}", iterations=cases, seed=7)
                if res.failed:
                    raise RuntimeError(f"op{i}: {res.failed} cases failed: {res.failures[:1]}")
        finally:
            stop.set()
            sampler.join()
        workers = client.ping().workers
    mib = 1 << 20
    return Section("campaign", f"{OPS} ops fuzzed on one daemon ({cases} cases each)", [
        Figure("budget", "max_worker_memory_mb (the budget)", BUDGET_MB * mib, "B", 1),
        Figure("peak", "peak RSS of all the daemon's workers, servers and children",
               peak[0], "B", 1, vs=("budget",), target=Target(1.0, at_most=True, on_ratio=True)),
    ], notes=[f"{workers.live} workers and servers live at the end (max_workers ="
              f" {MAX_WORKERS}); stopped during the campaign: {workers.reaped_cap} to make room under"
              f" max_workers, {workers.reaped_memory} over the memory cap,"
              f" {workers.reaped_idle} idle"])
