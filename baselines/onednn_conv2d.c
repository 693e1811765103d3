/* Conv2d f32 baseline: oneDNN's forward convolution (harness-owned, trusted; Debian's libdnnl,
   oneDNN 2.6, CPU engine). The ABI's tensors are plain NCHW / KCRS (OIHW) / NKPQ; oneDNN picks its
   own (blocked) layouts for the convolution (format_tag any), so every call reorders the input and
   the weights into them and the output back, inside the timed call: the cost a user with NCHW data
   pays. The primitives of the last shape are kept (created, and their code JIT-generated, on the
   first call of a shape: the warm-up call of a timing set). */
#include <string.h>
#include "tensorop_onednn.h"

typedef struct {
    int key[9];
    dnnl_primitive_t conv, r_src, r_wei, r_dst;
    dnnl_memory_t src_u, wei_u, dst_u, src_c, wei_c, dst_c;
    int reorder_src, reorder_wei, reorder_dst;
} conv_plan;

static conv_plan plan;

static void plan_free(void)
{
    dnnl_primitive_t ps[] = {plan.conv, plan.r_src, plan.r_wei, plan.r_dst};
    for (int i = 0; i < 4; i++) if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {plan.src_u, plan.wei_u, plan.dst_u, plan.src_c, plan.wei_c, plan.dst_c};
    for (int i = 0; i < 6; i++) if (ms[i]) dnnl_memory_destroy(ms[i]);
    memset(&plan, 0, sizeof plan);
}

/* a reorder from `from` to `to` (NULL when the layouts already agree) */
static dnnl_primitive_t reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int *needed)
{
    *needed = !dnnl_memory_desc_equal(from, to);
    if (!*needed) return NULL;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p = NULL;
    if (dnnl_reorder_primitive_desc_create(&pd, from, dnnl_engine, to, dnnl_engine, NULL) == dnnl_success) {
        dnnl_primitive_create(&p, pd);
        dnnl_primitive_desc_destroy(pd);
    }
    return p;
}

static int plan_make(int N, int C, int H, int W, int K, int R, int S, int stride, int pad)
{
    const int P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - S) / stride + 1;
    dnnl_dims_t sd = {N, C, H, W}, wd = {K, C, R, S}, dd = {N, K, P, Q};
    dnnl_dims_t st = {stride, stride}, pl = {pad, pad}, pr = {pad, pad};
    dnnl_memory_desc_t su, wu, du, sa, wa, da;
    dnnl_memory_desc_init_by_tag(&su, 4, sd, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&wu, 4, wd, dnnl_f32, dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&du, 4, dd, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&sa, 4, sd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&da, 4, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &sa, &wa, NULL,
                                           &da, st, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &cd, NULL, dnnl_engine, NULL) != dnnl_success)
        return 0;
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    lib_routine(impl);
    const dnnl_memory_desc_t *sc = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wc = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dc = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_primitive_create(&plan.conv, pd);
    plan.r_src = reorder(&su, sc, &plan.reorder_src);
    plan.r_wei = reorder(&wu, wc, &plan.reorder_wei);
    plan.r_dst = reorder(dc, &du, &plan.reorder_dst);
    dnnl_memory_create(&plan.src_u, &su, dnnl_engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&plan.wei_u, &wu, dnnl_engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&plan.dst_u, &du, dnnl_engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&plan.src_c, sc, dnnl_engine, plan.reorder_src ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE);
    dnnl_memory_create(&plan.wei_c, wc, dnnl_engine, plan.reorder_wei ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE);
    dnnl_memory_create(&plan.dst_c, dc, dnnl_engine, plan.reorder_dst ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE);
    dnnl_primitive_desc_destroy(pd);
    return plan.conv && (!plan.reorder_src || plan.r_src) && (!plan.reorder_wei || plan.r_wei) &&
           (!plan.reorder_dst || plan.r_dst);
}

static void run(dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    dnnl_primitive_execute(p, dnnl_stream, 2, a);
}

void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
                         int stride, int pad, const float *x, const float *w, float *y)
{
    int key[9] = {N, C, H, W, K, R, S, stride, pad};
    if (memcmp(key, plan.key, sizeof key)) {
        plan_free();
        if (!plan_make(N, C, H, W, K, R, S, stride, pad)) {
            lib_routine("error: oneDNN has no convolution for this shape");
            return;
        }
        memcpy(plan.key, key, sizeof key);
    }
    dnnl_memory_set_data_handle(plan.src_u, (void *)x);
    dnnl_memory_set_data_handle(plan.wei_u, (void *)w);
    dnnl_memory_set_data_handle(plan.dst_u, y);
    if (!plan.reorder_src) dnnl_memory_set_data_handle(plan.src_c, (void *)x);
    if (!plan.reorder_wei) dnnl_memory_set_data_handle(plan.wei_c, (void *)w);
    if (!plan.reorder_dst) dnnl_memory_set_data_handle(plan.dst_c, y);
    if (plan.reorder_src) run(plan.r_src, plan.src_u, plan.src_c);
    if (plan.reorder_wei) run(plan.r_wei, plan.wei_u, plan.wei_c);
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, plan.src_c}, {DNNL_ARG_WEIGHTS, plan.wei_c}, {DNNL_ARG_DST, plan.dst_c}};
    dnnl_primitive_execute(plan.conv, dnnl_stream, 3, a);
    if (plan.reorder_dst) run(plan.r_dst, plan.dst_c, plan.dst_u);
    dnnl_stream_wait(dnnl_stream);
}

static void onednn_warm_up(void)
{
    static float x[2 * 6 * 13 * 11], w[5 * 6 * 3 * 3], y[2 * 5 * 7 * 6];
    tensorop_conv2d_f32(2, 6, 13, 11, 5, 3, 3, 2, 1, x, w, y);
    plan_free();
}
