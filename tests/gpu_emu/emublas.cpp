// A stand-in for cuBLAS / hipBLAS behind the CPU "vendor" (tests/gpu_emu): the four entry points
// the GPU backend opens with dlopen, column-major single-precision GEMM as cublasSgemm defines
// it (op 0 = N, 1 = T), so that the backend's vendor path (transposes, leading dimensions,
// chunked dequantisation) is checked against the reference.
extern "C" {
__attribute__((visibility("default"))) int emublasCreate(void** h) {
  static int handle;
  *h = &handle;
  return 0;
}
__attribute__((visibility("default"))) int emublasDestroy(void*) { return 0; }
__attribute__((visibility("default"))) int emublasSetStream(void*, void*) { return 0; }
__attribute__((visibility("default"))) int emublasSgemm(void*, int op_a, int op_b, int m, int n, int k,
                                                         const float* alpha, const float* a, int lda,
                                                         const float* b, int ldb, const float* beta, float* c,
                                                         int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float s = 0.0f;
      for (int l = 0; l < k; ++l) {
        const float av = op_a ? a[i * lda + l] : a[l * lda + i];  // op(A)[i, l]
        const float bv = op_b ? b[l * ldb + j] : b[j * ldb + l];  // op(B)[l, j]
        s += av * bv;
      }
      c[j * ldc + i] = *alpha * s + (*beta != 0.0f ? *beta * c[j * ldc + i] : 0.0f);
    }
  return 0;
}
}
