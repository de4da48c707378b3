// Block-wide sum in shared memory (256 threads, 1 KiB of shared memory), one partial per
// block. warp_sum is kept out of line so the PTX has a .func body, and the per-block scale
// lives in constant memory.
#define BLOCK 256
__constant__ float block_scale[64];

__device__ __noinline__ float warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset /= 2)
        v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

extern "C" __global__ void reduce_sum(const float* __restrict__ x, float* __restrict__ partial, int n)
{
    __shared__ float buf[BLOCK];
    int i = blockIdx.x * BLOCK + threadIdx.x;
    buf[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int stride = BLOCK / 2; stride >= 32; stride /= 2) {
        if (threadIdx.x < stride) buf[threadIdx.x] += buf[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x < 32) {
        float v = warp_sum(buf[threadIdx.x]);
        if (threadIdx.x == 0) partial[blockIdx.x] = v * block_scale[blockIdx.x % 64];
    }
}
