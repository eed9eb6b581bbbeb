// The kernels for x86-64 with AVX-512 (F, BW, VL, DQ) and VNNI (chosen at run time where
// CPUID has them): the AVX2 kernels, with VNNI's int8 dot products where they save work.
// GCC 12's AVX-512 headers start some conversions from _mm512_undefined_*, which its
// uninitialised-use analysis flags after inlining (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define ISOMER_CPU_ISA avx512
#define ISOMER_CPU_ISA_AVX2 1
#define ISOMER_CPU_ISA_AVX512 1
#define ISOMER_CPU_ISA_AMX 0
#include "vec_dot_kernels.inc"
