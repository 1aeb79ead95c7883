// Kernels for the wasi:cuda example guest (examples/gpu/gpu_demo.c) and the
// GPU tests.  Built to PTX text with scripts/gpu-check (or by hand:
//   nvcc -ptx -arch=compute_75 -o kernels.ptx kernels.cu
// then the .version line lowered, see scripts/gpu-check); the .ptx file is
// kept in the repository so machines without nvcc still build and test.
//
// Each parameter list is what the guest's tagged argument list encodes:
// a pointer argument (tag 0x07 or a device buffer, tag 0x08) arrives as a
// 64-bit device address, `n` as a u32 (tag 0x05).

extern "C" __global__ void vec_add(const float *a, const float *b, float *c,
                                   unsigned n) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

// C = A * B for square n x n row-major matrices; one thread per element of C.
extern "C" __global__ void matmul(const float *a, const float *b, float *c,
                                  unsigned n) {
  unsigned row = blockIdx.y * blockDim.y + threadIdx.y;
  unsigned col = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= n || col >= n) return;
  float acc = 0.0f;
  for (unsigned k = 0; k < n; k++) acc += a[row * n + k] * b[k * n + col];
  c[row * n + col] = acc;
}
