// The shared GPU kernels compiled for the CPU "vendor" (vendor_device.h in this folder).
#include "kernels.cu"
