/* tensorop low-precision helpers (harness-owned; kernels may include this header, they need not).
 *
 * The GEMM ABIs of the low-precision operators (row-major, as tensorop_gemm_f32):
 *   f16:  A, B IEEE binary16 (bit patterns; a kernel may declare them _Float16 or __fp16),
 *         products accumulated in at least f32, C f32
 *   bf16: A, B bfloat16 bit patterns (the top half of an f32), C f32, f32 accumulation
 *   i8:   A, B int8, C int32, exact integer accumulation
 * and bit-exact conversions (round to nearest even) used by the timing driver to generate the
 * inputs and by the baselines to widen them; harness/ops/gemm_lowp.py reproduces them in NumPy.
 */
#ifndef TENSOROP_LOWP_H
#define TENSOROP_LOWP_H
#include <stdint.h>
#include <string.h>

/* binary16 -> f32, exact for every value (normals, subnormals, inf, NaN) */
static inline float tensorop_f16_to_f32(uint16_t h)
{
    uint32_t e = (uint32_t)(h & 0x7fffu) << 13, s = (uint32_t)(h & 0x8000u) << 16, r;
    float f;
    memcpy(&f, &e, 4);
    f *= 0x1p112f;                            /* rebias: normals and subnormals alike */
    memcpy(&r, &f, 4);
    if ((h & 0x7c00u) == 0x7c00u)
        r = e | 0x7f800000u;                  /* inf, NaN (payload kept) */
    r |= s;
    memcpy(&f, &r, 4);
    return f;
}

/* f32 -> binary16, round to nearest even (overflow to inf, subnormals rounded) */
static inline uint16_t tensorop_f32_to_f16(float f)
{
    uint32_t x, ax, s;
    memcpy(&x, &f, 4);
    s = (x >> 16) & 0x8000u;
    ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)
        return (uint16_t)(s | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (ax >= 0x477ff000u)                    /* rounds to >= 65536: inf */
        return (uint16_t)(s | 0x7c00u);
    if (ax < 0x38800000u) {                   /* below 2^-14: a subnormal, units of 2^-24 */
        float v;
        memcpy(&v, &ax, 4);
        v = (v * 0x1p24f + 0x1p23f) - 0x1p23f;  /* round to an integer, nearest even */
        return (uint16_t)(s | (uint32_t)v);
    }
    ax -= 0x38000000u;                        /* exponent bias 127 -> 15 */
    ax += 0xfffu + ((ax >> 13) & 1u);
    return (uint16_t)(s | (ax >> 13));
}

static inline float tensorop_bf16_to_f32(uint16_t b)
{
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* f32 -> bfloat16, round to nearest even (finite inputs) */
static inline uint16_t tensorop_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* The element types of the low-precision GEMM selected by TENSOROP_GEMM_F16, _BF16 or _I8 (the
 * harness defines one for its driver and baselines): tensorop_in_t (A, B), tensorop_out_t (C),
 * TENSOROP_GEMM_FN (the ABI function) and tensorop_widen() (one input as its accumulation type). */
#if defined(TENSOROP_GEMM_I8)
typedef int8_t tensorop_in_t;
typedef int32_t tensorop_out_t;
#define TENSOROP_GEMM_FN tensorop_gemm_i8
static inline int32_t tensorop_widen(int8_t x) { return x; }
#elif defined(TENSOROP_GEMM_F16) || defined(TENSOROP_GEMM_BF16)
typedef uint16_t tensorop_in_t;
typedef float tensorop_out_t;
#if defined(TENSOROP_GEMM_F16)
#define TENSOROP_GEMM_FN tensorop_gemm_f16
static inline float tensorop_widen(uint16_t x) { return tensorop_f16_to_f32(x); }
#else
#define TENSOROP_GEMM_FN tensorop_gemm_bf16
static inline float tensorop_widen(uint16_t x) { return tensorop_bf16_to_f32(x); }
#endif
#endif
#endif
