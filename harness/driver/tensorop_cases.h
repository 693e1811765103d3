/* The request's case= line of each operator, for its CPU and its CUDA driver alike (plain C for
 * gcc, clang and nvcc). Define the op's macro, then include:
 *   TENSOROP_CASE_GEMM     case=M,N,K,lda,ldb,ldc,seed               (gemm_driver.c, cuda_gemm_driver.cu)
 *   TENSOROP_CASE_CONV2D   case=N,C,H,W,K,R,S,stride,pad,seed        (conv2d_driver.c, cuda_conv2d_driver.cu)
 * op_parse_case returns -1 on a malformed or impossible case. */
#ifndef TENSOROP_CASES_H
#define TENSOROP_CASES_H

#include <stdint.h>
#include <stdio.h>

#if defined(TENSOROP_CASE_GEMM)
typedef struct {
    int M, N, K, lda, ldb, ldc;
    uint64_t seed;
} op_case;

static int op_parse_case(const char *s, op_case *c)
{
    unsigned long long seed;
    if (sscanf(s, "%d,%d,%d,%d,%d,%d,%llu", &c->M, &c->N, &c->K, &c->lda, &c->ldb, &c->ldc, &seed) != 7)
        return -1;
    c->seed = seed;
    if (c->M < 1 || c->N < 1 || c->K < 1 || c->lda < c->K || c->ldb < c->N || c->ldc < c->N)
        return -1;
    return 0;
}
#elif defined(TENSOROP_CASE_CONV2D)
typedef struct {
    int N, C, H, W, K, R, S, stride, pad, P, Q;     /* P, Q: the output's height and width */
    uint64_t seed;
} op_case;

static int op_parse_case(const char *s, op_case *c)
{
    unsigned long long seed;
    if (sscanf(s, "%d,%d,%d,%d,%d,%d,%d,%d,%d,%llu", &c->N, &c->C, &c->H, &c->W, &c->K, &c->R, &c->S,
               &c->stride, &c->pad, &seed) != 10)
        return -1;
    c->seed = seed;
    if (c->N < 1 || c->C < 1 || c->H < 1 || c->W < 1 || c->K < 1 || c->R < 1 || c->S < 1 || c->stride < 1 ||
        c->pad < 0 || c->H + 2 * c->pad < c->R || c->W + 2 * c->pad < c->S)
        return -1;
    c->P = (c->H + 2 * c->pad - c->R) / c->stride + 1;
    c->Q = (c->W + 2 * c->pad - c->S) / c->stride + 1;
    return 0;
}
#else
#error "define TENSOROP_CASE_GEMM or TENSOROP_CASE_CONV2D before including tensorop_cases.h"
#endif

#endif /* TENSOROP_CASES_H */
