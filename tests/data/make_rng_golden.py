"""Write rng_golden.json: the gpuemu.rng sequence for a few seeds, frozen as data.

Run it only when the sequence is meant to change (it never should: seeds printed by
earlier versions and by the original tools name the same cases). tests/unit/test_rng.py
loads SAMPLES from here and checks the implementation against the committed JSON.

    .venv/bin/python tests/data/make_rng_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

from gpuemu.rng import SeededRng, derive_seed

SEEDS = (0, 1, 42, 2**63 + 5, 2**64 - 1)
DOMAINS = (
    "iter_0", "iter_1", "iter_999", "dtype", "layout", "shape", "data", "input_0", "", "héllo",
)


def _shuffled(rng: SeededRng) -> list[int]:
    xs = list(range(10))
    rng.shuffle(xs)
    return xs


# name -> what it draws from a fresh SeededRng(seed); every entry is JSON-exact.
SAMPLES = {
    "gen_u64": lambda rng: [rng.gen_u64() for _ in range(16)],
    "gen_f32": lambda rng: [rng.gen_f32() for _ in range(8)],
    "gen_f64": lambda rng: [rng.gen_f64() for _ in range(8)],
    "gen_range_-100_100": lambda rng: [rng.gen_range(-100, 100) for _ in range(8)],
    "gen_range_0_2**64-1": lambda rng: [rng.gen_range(0, 2**64 - 1) for _ in range(4)],
    "choice_abcde": lambda rng: [rng.choice("abcde") for _ in range(8)],
    "gen_bool_0.5": lambda rng: [rng.gen_bool(0.5) for _ in range(8)],
    "shuffle_range_10": _shuffled,
    "derive_data_input_0": lambda rng: rng.derive("data").derive("input_0").fill_u64(4).tolist(),
    "randn_f64_7": lambda rng: rng.randn_f64(7).tolist(),
    "randn_2x3": lambda rng: rng.randn((2, 3)).tolist(),
}


def golden() -> dict:
    """The golden record: per seed, derived seeds and each sample of SAMPLES."""
    return {
        str(seed): {
            "derive_seed": {d: derive_seed(seed, d) for d in DOMAINS},
            **{name: draw(SeededRng(seed)) for name, draw in SAMPLES.items()},
        }
        for seed in SEEDS
    }


if __name__ == "__main__":
    path = Path(__file__).with_name("rng_golden.json")
    path.write_text(json.dumps(golden(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
