// A per-thread histogram in a 256-entry local array indexed by data (so it cannot live in
// registers), and __launch_bounds__(1024, 2) capping the kernel at 32 registers while
// 40 accumulators stay live: ptxas must spill.
#define BINS 256
#define ACC 40
extern "C" __global__ void __launch_bounds__(1024, 2)
local_spill(const unsigned char* __restrict__ data, const float* __restrict__ w, float* __restrict__ out, int n)
{
    float hist[BINS];
    float acc[ACC];
#pragma unroll
    for (int k = 0; k < ACC; ++k) acc[k] = w[k];
    for (int b = 0; b < BINS; ++b) hist[b] = 0.0f;
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    for (int i = t; i < n; i += gridDim.x * blockDim.x) {
        hist[data[i]] += 1.0f;
#pragma unroll
        for (int k = 0; k < ACC; ++k) acc[k] = acc[k] * w[i % ACC] + hist[(data[i] + k) % BINS];
    }
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < ACC; ++k) s += acc[k] * (k + 1);
    out[t] = s + hist[t % BINS];
}
