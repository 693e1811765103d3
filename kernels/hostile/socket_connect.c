/* TRICK: open a TCP socket to localhost. EXPECT: rejected */
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int rows)
{
    for (int i = 0; i < rows; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(47474), .sin_addr.s_addr = htonl(0x7f000001) };
    if (s >= 0) { connect(s, (struct sockaddr *)&a, sizeof a); close(s); }
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
