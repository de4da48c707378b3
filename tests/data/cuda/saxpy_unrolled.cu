// The same saxpy, but each thread handles 8 elements with all loads issued first:
// more values live at once, so it needs more registers than saxpy.cu.
#define PER_THREAD 8
extern "C" __global__ void saxpy(int n, float a, const float* __restrict__ x, float* __restrict__ y)
{
    int base = (blockIdx.x * blockDim.x + threadIdx.x) * PER_THREAD;
    float xs[PER_THREAD], ys[PER_THREAD];
#pragma unroll
    for (int k = 0; k < PER_THREAD; ++k) {
        int i = base + k;
        xs[k] = i < n ? x[i] : 0.0f;
        ys[k] = i < n ? y[i] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < PER_THREAD; ++k) {
        int i = base + k;
        if (i < n) y[i] = a * xs[k] + ys[k];
    }
}
