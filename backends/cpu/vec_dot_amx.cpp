// The kernels for x86-64 with AVX-512, VNNI and AMX-INT8 (Sapphire Rapids on), chosen at run
// time where CPUID has them and the OS grants the tile state: the AVX-512 kernels, with Q4_0,
// Q8_0 and Q4_K prompt products in tile registers (vec_dot_amx.inc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"  // as vec_dot_avx512.cpp (GCC bug 105593)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// The AVX-512 set's functions are compiled here too, unused: the AMX set takes all but its
// prompt products from the AVX-512 build (vec_dot_kernels.inc, dot_rows_fn_amx).
#pragma GCC diagnostic ignored "-Wunused-function"
#define ISOMER_CPU_ISA amx
#define ISOMER_CPU_ISA_AVX2 1
#define ISOMER_CPU_ISA_AVX512 1
#define ISOMER_CPU_ISA_AMX 1
#include "vec_dot_kernels.inc"
