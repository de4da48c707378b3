"""Reference scaled dot-product attention, softmax(q k^T * scale [+ causal mask]) v, in float64.

q[B, Lq, D], k[B, Lk, D], v[B, Lk, Dv]; ``scale`` defaults to 1/sqrt(D). With ``causal``,
query i attends to keys j <= i (torch's ``is_causal``, aligned top-left); a query that
sees no key (Lk = 0) outputs zeros.
"""

import numpy as np

from gpuemu.script import main


def reference(inputs, causal=False, scale=None, **kwargs):
    q, k, v = (inputs[n].astype(np.float64) for n in ("q", "k", "v"))
    d = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) * (scale if scale is not None else 1.0 / np.sqrt(max(d, 1)))
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], bool)), scores, -np.inf)
    m = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)
    e = np.exp(scores - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return (p @ v).astype(inputs["q"].dtype)


if __name__ == "__main__":
    main(reference)
