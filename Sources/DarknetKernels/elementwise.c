// Passes over whole arrays, value by value: compiled for each instruction set and chosen
// when the library loads. Swift builds for the baseline x86-64, whose four-float vectors
// ran these memory-speed loops at a third of that speed.
#include "DarknetKernels.h"

// As Darknet: each product rounded, then the sum (no fused multiply-add).
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#define DS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DS_CLONES
#endif

static inline float activate(ds_activation activation, float x) {
    switch (activation) {
    case DS_LEAKY: return x > 0 ? x : (float)(0.1 * (double)x);
    case DS_RELU: return x > 0 ? x : 0;
    default: return x;
    }
}

DS_CLONES
void ds_activate(float *values, long count, ds_activation activation) {
    switch (activation) {
    case DS_LEAKY:
        for (long i = 0; i < count; i++) values[i] = activate(DS_LEAKY, values[i]);
        break;
    case DS_RELU:
        for (long i = 0; i < count; i++) values[i] = activate(DS_RELU, values[i]);
        break;
    default: break;
    }
}

DS_CLONES
void ds_add_scaled(float *out, const float *previous, float alpha, const float *add, float beta, long count,
                   ds_activation activation) {
    switch (activation) {
    case DS_LEAKY:
        for (long i = 0; i < count; i++) out[i] = activate(DS_LEAKY, alpha * previous[i] + beta * add[i]);
        break;
    case DS_RELU:
        for (long i = 0; i < count; i++) out[i] = activate(DS_RELU, alpha * previous[i] + beta * add[i]);
        break;
    default:
        for (long i = 0; i < count; i++) out[i] = alpha * previous[i] + beta * add[i];
    }
}
