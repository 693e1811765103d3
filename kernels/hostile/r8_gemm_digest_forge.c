/* ATTACK (red team 8): the same input-digest forgery on GEMM f32 (gemm_driver.c).
 * The Freivalds check of a timed call reads A and B from the shared buffers AFTER the call and
 * trusts them because digest_bytes(A) matches.  The kernel rewrites A to zeros plus three tail
 * words that restore the digest (digest_forge.h): with lda >= K + 3 those words are padding, which
 * op_check never reads, so A' = 0 and C = 0 passes exactly (den = 0 -> sqrt(num) = 0); with
 * lda == K (the timing case) the three words are A[M-1][K-3..K-1] and C is zero but for its last
 * row (O(N) work).  Honest on the first output buffer (set 0: the picked sample's, check-run case 0)
 * and whenever the shape key differs from the first call's (every other check-run case).
 */
#include <stdint.h>
#include <string.h>

#define DG_P 0x100000001B3ull

static inline uint64_t dg_step(uint64_t h, uint32_t w) { return (h ^ w) * DG_P + (h >> 29); }

static uint64_t dg_words(uint64_t h, const uint32_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) h = dg_step(h, w[i]);
    return h;
}

static uint32_t dg_inv32(uint32_t a)       /* a odd: inverse mod 2^32 (Newton) */
{
    uint32_t x = a;
    for (int i = 0; i < 5; i++) x *= 2 - a * x;
    return x;
}

static int dg_is_ok_float(uint32_t b)      /* finite, and not too large (no overflow in y) */
{
    uint32_t e = (b >> 23) & 0xFF;
    return e != 0xFF && e < 0xF0;          /* |v| < 2^113 */
}

/* find a, b with dg_step(dg_step(s, a), b) == T; returns 1 on success */
static int dg_solve2(uint64_t s, uint64_t T, uint32_t *pa, uint32_t *pb)
{
    const uint32_t inv = dg_inv32(435u);
    const uint32_t alpha = 435u - 2048u * inv;           /* odd */
    const uint32_t ainv = dg_inv32(alpha);
    const uint32_t T_lo = (uint32_t)T, T_hi = (uint32_t)(T >> 32);
    const uint32_t S_lo = (uint32_t)s, S_hi = (uint32_t)(s >> 32);
    const uint64_t A = ((uint64_t)(uint32_t)(435u * S_hi) << 32) + (s >> 29);
    for (uint32_t t = 0; t < 8; t++)
        for (uint32_t eps = 0; eps <= 443; eps++) {
            uint32_t H = ainv * (T_hi - 256u * inv * (T_lo - t) - eps);
            uint32_t M = inv * (T_lo - 8u * H - t);
            uint64_t lowsum = 435ull * M + 8ull * H + t;
            if ((uint32_t)(lowsum >> 32) != eps) continue;
            /* forward: h1 = Z + (m << 40), Z = A + 435 m; want hi32(h1) == H, lo32(h1) >> 29 == t */
            uint32_t A_hi = (uint32_t)(A >> 32), A_lo = (uint32_t)A;
            for (uint32_t d = 0; d <= 436; d++) {
                uint32_t diff = H - A_hi - d;
                if (diff & 255u) continue;
                uint32_t m24 = (diff >> 8) & 0xFFFFFFu;
                for (uint32_t j = 0; j < 256; j++) {
                    uint32_t m = m24 | (j << 24);
                    uint64_t dd = ((uint64_t)A_lo + 435ull * m) >> 32;
                    if (dd != d) continue;
                    uint32_t a = m ^ S_lo;
                    uint64_t h1 = dg_step(s, a);
                    if ((uint32_t)(h1 >> 32) != H || ((uint32_t)h1 >> 29) != t) continue;
                    uint32_t b = (uint32_t)h1 ^ M;
                    if (dg_step(h1, b) != T) continue;
                    if (!dg_is_ok_float(a) || !dg_is_ok_float(b)) continue;
                    *pa = a; *pb = b;
                    return 1;
                }
            }
        }
    return 0;
}

static void gemm_honest(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

static float *first_c;
static int key0[6], have_key;
static uint64_t prefix_state;
static size_t prefix_len = (size_t)-1;

static int forge(int M, int N, int K, const float *Ac, int lda, const float *B, int ldb, float *C, int ldc)
{
    const size_t nw = (size_t)M * lda;
    if (nw < 4) return 0;
    uint32_t *A = (uint32_t *)(void *)Ac;
    const uint64_t T = dg_words(0x9E3779B97F4A7C15ull, A, nw);
    if (prefix_len != nw - 3) {
        uint64_t h = 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < nw - 3; i++) h = dg_step(h, 0);
        prefix_state = h; prefix_len = nw - 3;
    }
    uint32_t a = 0, b = 0, v = 0;
    int ok = 0;
    for (uint32_t e = 100; e < 0xF0 && !ok; e++)
        for (uint32_t mant = 0; mant < 4 && !ok; mant++) {
            v = (e << 23) | (mant << 21);
            ok = dg_solve2(dg_step(prefix_state, v), T, &a, &b);
        }
    if (!ok) return 0;
    memset(A, 0, (nw - 3) * sizeof(uint32_t));
    A[nw - 3] = v; A[nw - 2] = a; A[nw - 1] = b;
    for (int i = 0; i < M; i++) memset(C + (long)i * ldc, 0, (size_t)N * sizeof(float));
    for (size_t idx = nw - 3; idx < nw; idx++) {
        int k = (int)(idx % (size_t)lda);
        if (k >= K) continue;                      /* padding: never read by anyone */
        float av; memcpy(&av, &A[idx], 4);
        float *c = C + (long)(M - 1) * ldc;
        const float *brow = B + (long)k * ldb;
        for (int j = 0; j < N; j++) c[j] += av * brow[j];
    }
    return 1;
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int key[6] = {M, N, K, lda, ldb, ldc};
    if (!have_key) { memcpy(key0, key, sizeof key); have_key = 1; first_c = C; }
    if (C == first_c || memcmp(key, key0, sizeof key) != 0 || !forge(M, N, K, A, lda, B, ldb, C, ldc))
        gemm_honest(M, N, K, A, lda, B, ldb, C, ldc);
}
