// The kernels for x86-64 with AVX2, FMA and F16C (chosen at run time where CPUID has them).
#define ISOMER_CPU_ISA avx2
#define ISOMER_CPU_ISA_AVX2 1
#define ISOMER_CPU_ISA_AVX512 0
#define ISOMER_CPU_ISA_AMX 0
#include "vec_dot_kernels.inc"
