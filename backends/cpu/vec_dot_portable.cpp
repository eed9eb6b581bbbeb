// The kernels in portable C++ (any CPU; the path ISOMER_CPU_ISA=portable forces).
#define ISOMER_CPU_ISA portable
#define ISOMER_CPU_ISA_AVX2 0
#define ISOMER_CPU_ISA_AVX512 0
#define ISOMER_CPU_ISA_AMX 0
#include "vec_dot_kernels.inc"
