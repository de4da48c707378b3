"""Scaled dot-product attention as a flash-attention kernel computes it, in numpy float32:
keys and values stream through in blocks, with a running max and sum (online softmax), so
the Lq x Lk score matrix is never held whole. q[B, Lq, D], k[B, Lk, D], v[B, Lk, Dv]."""

import numpy as np
from gpuemu.script import main

BLOCK_K = 16


def run(inputs, causal=False, scale=None, **kwargs):
    q, k, v = (inputs[n].astype(np.float32) for n in ("q", "k", "v"))
    scale = np.float32(scale if scale is not None else 1.0 / np.sqrt(max(q.shape[-1], 1)))
    lq, lk = q.shape[1], k.shape[1]
    m = np.full((*q.shape[:2], 1), -np.inf, np.float32)  # running row max
    total = np.zeros_like(m)  # running sum of exp(s - m)
    acc = np.zeros((*q.shape[:2], v.shape[-1]), np.float32)
    for start in range(0, lk, BLOCK_K):
        s = q @ k[:, start:start + BLOCK_K].swapaxes(1, 2) * scale
        if causal:
            keys = np.arange(start, min(start + BLOCK_K, lk))
            s = np.where(keys[None, :] <= np.arange(lq)[:, None], s, -np.inf)
        m_new = np.maximum(m, s.max(axis=-1, keepdims=True))
        safe = np.where(np.isfinite(m_new), m_new, 0.0)  # a row with no key yet stays all zeros
        correction = np.exp(m - safe)
        p = np.exp(s - safe)
        total = total * correction + p.sum(axis=-1, keepdims=True)
        acc = acc * correction + p @ v[:, start:start + BLOCK_K]
        m = m_new
    out = np.divide(acc, total, out=np.zeros_like(acc), where=total > 0)
    return out.astype(inputs["q"].dtype)


if __name__ == "__main__":
    main(run)
