// Two C++ kernels in one file: their PTX symbols are mangled (_ZN2ew4reluEPfi, _Z5scalePffi),
// so they exercise multi-kernel files and lookup by C++ name. scale divides, which the
// lint tests forbid with forbidden_instructions = ["div"].
namespace ew {
__global__ void relu(float* x, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = fmaxf(x[i], 0.0f);
}
}  // namespace ew

__global__ void scale(float* x, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = x[i] / s;
}
