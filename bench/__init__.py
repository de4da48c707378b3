"""gpuemu's benchmarks: every figure printed next to its floor, measured in the same run.

Machines are shared and noisy, so absolute times move from run to run; the ratios
between figures taken side by side (variants interleaved) are what to compare
across commits. Run ``python -m bench --help``.
"""
