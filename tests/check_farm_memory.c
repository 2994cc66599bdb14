/* check_farm_memory.c - bounded buffers, backpressure signalling and the
 * memory settings of farm nodes (byte-bounded queues, response metadata,
 * in-place inputs, per-peer hold-off, the Winograd memory cap). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "farm/queue.h"
#include "models/model.h"
#include "models/net.h"
#include "models/weights.h"
#include "net/avro_ipc.h"
#include "net/http.h"
#include "net/rpc.h"
#include "ops/conv2d_winograd.h"
#include "testutil.h"

/* ---------------------------------------------------------------- queue in bytes */

START_TEST(a_byte_bounded_queue_charges_items_by_size_and_takes_a_big_item_only_when_empty)
{
    mc_queue q;
    int a, b, c, d;
    size_t after = 0;
    ck_assert_int_eq(mc_queue_init_bytes(&q, 16, 1000), MC_OK);
    ck_assert_int_eq(mc_queue_push_sized(&q, &a, 600, 0.01, &after), 0);
    ck_assert_uint_eq(after, 600);
    ck_assert_int_eq(mc_queue_push_sized(&q, &b, 400, 0.01, &after), 0);
    ck_assert_uint_eq(after, 1000);
    ck_assert_int_eq(mc_queue_push_sized(&q, &c, 1, 0.02, &after), -1); /* over the budget: refused */
    ck_assert_uint_eq(after, 1000);
    ck_assert_ptr_eq(mc_queue_pop(&q, 0), &a);
    ck_assert_uint_eq(mc_queue_bytes(&q), 400);
    ck_assert_int_eq(mc_queue_push_sized(&q, &d, 5000, 0.02, NULL), -1); /* bigger than the room */
    ck_assert_ptr_eq(mc_queue_pop(&q, 0), &b);
    ck_assert_int_eq(mc_queue_push_sized(&q, &d, 5000, 0.01, &after), 0); /* fits an empty queue */
    ck_assert_uint_eq(after, 5000);
    ck_assert_ptr_eq(mc_queue_pop(&q, 0), &d);
    ck_assert_uint_eq(mc_queue_bytes(&q), 0);
    mc_queue_free(&q, NULL);
}
END_TEST

/* ---------------------------------------------------------------- response metadata */

typedef struct probe {
    int calls, inside_body;
    size_t len;
    unsigned char first, last;
    const unsigned char *body;
    size_t body_len;
    const char *fail_with, *hold;
} probe;

static mc_status probe_handler(void *ctx, mc_ipc_forward *f)
{
    probe *p = ctx;
    p->calls++;
    p->len = f->input_len;
    p->first = f->input_len ? f->input[0] : 0;
    p->last = f->input_len ? f->input[f->input_len - 1] : 0;
    p->inside_body = p->body && f->input >= p->body && f->input + f->input_len <= p->body + p->body_len;
    if (p->hold) mc_ipc_meta_set(&f->reply, "mc.almost_full", p->hold);
    if (p->fail_with) return mc_error_set(MC_ERR_FULL, "%s", p->fail_with);
    return MC_OK;
}

static void encode(mc_ipc *ipc, const unsigned char *in, size_t n, unsigned char **body, size_t *len)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = in;
    f.input_len = n;
    strcpy(f.next, "t");
    strcpy(f.tag, "7");
    ck_assert_int_eq(mc_ipc_request_encode(ipc, 1, &f, body, len), MC_OK);
}

START_TEST(metadata_the_handler_sets_comes_back_in_the_response_also_with_an_error)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    unsigned char in[3] = {1, 2, 3}, *body, *resp;
    size_t len, rl;
    static const struct {
        const char *fail, *hold;
    } cases[] = {{NULL, NULL}, {NULL, "0.2500"}, {"busy: full", "1.0000"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        encode(ipc, in, sizeof in, &body, &len);
        probe p = {0};
        p.fail_with = cases[i].fail;
        p.hold = cases[i].hold;
        ck_assert_int_eq(mc_ipc_serve(ipc, body, len, probe_handler, &p, &resp, &rl), 200);
        ck_assert_int_eq(p.calls, 1);
        mc_ipc_match m;
        mc_ipc_meta rm;
        mc_status st = mc_ipc_response_decode_meta(ipc, resp, rl, &m, &rm);
        ck_assert_int_eq(st, cases[i].fail ? MC_ERR_NETWORK : MC_OK);
        const char *v = mc_ipc_meta_get(&rm, "mc.almost_full");
        if (cases[i].hold) ck_assert_str_eq(v, cases[i].hold);
        else ck_assert_ptr_null(v);
        free(body);
        free(resp);
    }
    mc_ipc_free(ipc);
}
END_TEST

START_TEST(a_large_input_is_handed_over_in_place_in_the_message_with_the_exact_bytes)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    static const size_t sizes[] = {4095, 4096, 70000, 602112};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *in = malloc(n), *body, *resp;
        size_t len, rl;
        for (size_t k = 0; k < n; k++) in[k] = (unsigned char)(k * 7 + i);
        encode(ipc, in, n, &body, &len);
        probe p = {0};
        p.body = body;
        p.body_len = len;
        ck_assert_int_eq(mc_ipc_serve(ipc, body, len, probe_handler, &p, &resp, &rl), 200);
        ck_assert_uint_eq(p.len, n);
        ck_assert_uint_eq(p.first, in[0]);
        ck_assert_uint_eq(p.last, in[n - 1]);
        /* the body is one frame: large inputs are read where they lie in it */
        ck_assert_int_eq(p.inside_body, n >= 4096);
        free(in);
        free(body);
        free(resp);
    }
    mc_ipc_free(ipc);
}
END_TEST

START_TEST(an_encoded_call_gets_another_handshake_without_its_tensor)
{
    mc_ipc *client, *server;
    ck_assert_int_eq(mc_ipc_new(&client), MC_OK);
    ck_assert_int_eq(mc_ipc_new(&server), MC_OK);
    size_t n = 100000;
    unsigned char *in = malloc(n), *body, *again, *resp;
    size_t len, alen, rl;
    for (size_t k = 0; k < n; k++) in[k] = (unsigned char)(k * 13);
    encode(client, in, n, &body, &len); /* with our protocol (encode() sets it) */
    ck_assert_int_eq(mc_ipc_request_rehandshake(client, 0, body, len, &again, &alen), MC_OK);
    memset(in, 0, n); /* the tensor is gone: the bodies carry it */
    ck_assert_uint_lt(alen, len); /* the protocol text is gone */
    /* our server knows our protocol's hash: the call goes through as it is */
    probe p = {0};
    ck_assert_int_eq(mc_ipc_serve(server, again, alen, probe_handler, &p, &resp, &rl), 200);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.len, n);
    mc_ipc_match m;
    ck_assert_int_eq(mc_ipc_response_decode(client, resp, rl, &m), MC_OK);
    ck_assert_int_ne(m, MC_IPC_NONE);
    free(resp);
    /* with it again: the call goes through with the exact bytes */
    unsigned char *with;
    size_t wlen;
    ck_assert_int_eq(mc_ipc_request_rehandshake(client, 1, again, alen, &with, &wlen), MC_OK);
    ck_assert_uint_eq(wlen, len);
    ck_assert_int_eq(memcmp(with, body, len), 0);
    ck_assert_int_eq(mc_ipc_serve(server, with, wlen, probe_handler, &p, &resp, &rl), 200);
    free(again);
    ck_assert_int_eq(p.calls, 2);
    ck_assert_uint_eq(p.len, n);
    ck_assert_uint_eq(p.first, 0);
    ck_assert_uint_eq(p.last, (unsigned char)((n - 1) * 13));
    ck_assert_int_eq(mc_ipc_response_decode(client, resp, rl, &m), MC_OK);
    ck_assert_int_ne(m, MC_IPC_NONE);
    /* a body that is not a request is refused */
    ck_assert_int_ne(mc_ipc_request_rehandshake(client, 1, (const unsigned char *)"\0\0\0\2ab\0\0\0\0", 10, &again,
                                                &alen), MC_OK);
    free(in);
    free(body);
    free(with);
    free(resp);
    mc_ipc_free(client);
    mc_ipc_free(server);
}
END_TEST

/* ---------------------------------------------------------------- hold-off over HTTP */

typedef struct hold_server {
    mc_ipc *ipc;
    probe p;
} hold_server;

static int hold_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    hold_server *h = ctx;
    return mc_ipc_serve(h->ipc, body, len, probe_handler, &h->p, resp, resp_len);
}

START_TEST(a_client_remembers_a_peers_hold_off_and_does_not_retry_a_busy_answer_that_carries_it)
{
    hold_server h;
    memset(&h, 0, sizeof h);
    ck_assert_int_eq(mc_ipc_new(&h.ipc), MC_OK);
    int port = mc_test_free_port();
    mc_http_server *srv;
    ck_assert_int_eq(mc_http_server_start("127.0.0.1", port, 1 << 20, NULL, hold_body, &h, &srv), MC_OK);
    mc_rpc *r;
    ck_assert_int_eq(mc_rpc_new(h.ipc, &r), MC_OK);
    unsigned char in[4] = {9, 8, 7, 6};
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = in;
    f.input_len = sizeof in;
    strcpy(f.next, "t");
    strcpy(f.tag, "1");
    mc_rpc_policy pol = {.attempts = 4, .backoff0_s = 0.01, .backoff_max_s = 0.02};
    int used = 0;

    /* accepted, no signal: no hold */
    ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", port, &f, pol, NULL, &used), MC_OK);
    ck_assert_double_eq(mc_rpc_hold_s(r, "127.0.0.1", port), 0);
    /* accepted with almost_full: hold about that long, capped at 5 s */
    h.p.hold = "0.5000";
    double t_call = mc_now();
    ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", port, &f, pol, NULL, &used), MC_OK);
    double left = mc_rpc_hold_s(r, "127.0.0.1", port), since = mc_now() - t_call;
    /* at most the 0.5 s asked, at least 0.5 s minus the time since the call
     * began (holds however slow the machine) */
    ck_assert_msg(left <= 0.5 && left >= 0.5 - since - 1e-3, "hold %.3f s, %.3f s after the call", left, since);
    h.p.hold = "1e9";
    ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", port, &f, pol, NULL, &used), MC_OK);
    ck_assert(mc_rpc_hold_s(r, "127.0.0.1", port) <= 5.0);
    /* busy with almost_full: MC_ERR_FULL after one attempt */
    h.p.hold = "0.2000";
    h.p.fail_with = "busy: input buffer full";
    int calls = h.p.calls;
    ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", port, &f, pol, NULL, &used), MC_ERR_FULL);
    ck_assert_int_eq(used, 1);
    ck_assert_int_eq(h.p.calls, calls + 1);
    /* busy without it (another implementation): retried as before */
    h.p.hold = NULL;
    calls = h.p.calls;
    ck_assert_int_ne(mc_rpc_forward(r, "127.0.0.1", port, &f, pol, NULL, &used), MC_OK);
    ck_assert_int_eq(used, 4);
    ck_assert_int_eq(h.p.calls, calls + 4);
    /* an unknown peer has no hold */
    ck_assert_double_eq(mc_rpc_hold_s(r, "127.0.0.1", port + 1 == 65536 ? 1 : port + 1), 0);
    mc_rpc_free(r);
    mc_http_server_stop(srv);
    mc_ipc_free(h.ipc);
}
END_TEST

/* ---------------------------------------------------------------- Winograd memory cap */

/* A range with two Winograd layers (3x3, >= 128 input channels, 28x28). */
static const char wino_model[] = "model w\n"
                                 "input 28 28 128\n"
                                 "conv2d a filters=128 kernel=3 padding=same act=relu\n"
                                 "conv2d b filters=128 kernel=3 padding=same act=relu\n";

static void run_capped(size_t cap, int drop, size_t band, const float *x, float *y, int *prepared, int *weights_left)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse(wino_model, "w", &m), MC_OK);
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, 2, 5), MC_OK);
    mc_backend_cpu_set_winograd(be, cap, drop, band);
    mc_net n;
    ck_assert_int_eq(mc_net_init(&n, &m, 0, 2, be), MC_OK);
    *prepared = (m.layers[0].cpu_state != NULL) + (m.layers[1].cpu_state != NULL);
    *weights_left = (m.layers[0].weight.data != NULL) + (m.layers[1].weight.data != NULL);
    ck_assert_int_eq(mc_net_forward(&n, x, y), MC_OK);
    if (band) ck_assert_uint_eq(m.layers[0].cpu_band_floats, band); /* the backend's band, per layer */
    mc_net_free(&n);
    mc_backend_destroy(be);
    mc_model_free(&m);
}

START_TEST(the_winograd_cap_builds_transforms_only_as_far_as_they_fit_with_the_same_results)
{
    const size_t n_in = 28 * 28 * 128, u = (size_t)16 * 128 * 128 * 4, w = (size_t)9 * 128 * 128 * 4;
    float *x = malloc(n_in * sizeof *x), *ref = malloc(n_in * sizeof *x), *y = malloc(n_in * sizeof *x);
    for (size_t i = 0; i < n_in; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.3f;
    int prepared, left;
    static const struct {
        size_t cap;
        int drop, want_prepared, want_weights;
    } cases[] = {
        {(size_t)-1, 0, 2, 2},  /* default: every layer, weights kept */
        {0, 0, 0, 2},           /* no room: im2col everywhere */
        {0, 1, 0, 2},
    };
    run_capped((size_t)-1, 0, 0, x, ref, &prepared, &left);
    ck_assert_int_eq(prepared, 2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_capped(cases[i].cap, cases[i].drop, 0, x, y, &prepared, &left);
        ck_assert_int_eq(prepared, cases[i].want_prepared);
        ck_assert_int_eq(left, cases[i].want_weights);
        ck_assert(mc_test_max_rel_err(y, ref, n_in, 1e-3) <= 1e-5);
    }
    /* room for one transform (kept weights: U; dropped weights: U - W) */
    run_capped(u + u / 2, 0, 0, x, y, &prepared, &left);
    ck_assert_int_eq(prepared, 1);
    ck_assert_int_eq(left, 2);
    ck_assert(mc_test_max_rel_err(y, ref, n_in, 1e-3) <= 1e-5);
    run_capped(u, 1, 1 << 16, x, y, &prepared, &left); /* U - W = 7/16 U each: both fit, small bands */
    ck_assert_int_eq(prepared, 2);
    ck_assert_int_eq(left, 0);
    ck_assert(mc_test_max_rel_err(y, ref, n_in, 1e-3) <= 1e-5);
    run_capped(u - w + (u - w) / 2, 1, 0, x, y, &prepared, &left);
    ck_assert_int_eq(prepared, 1);
    ck_assert_int_eq(left, 1);
    ck_assert(mc_test_max_rel_err(y, ref, n_in, 1e-3) <= 1e-5);
    free(x);
    free(ref);
    free(y);
}
END_TEST

/* Dropped plain weights cannot be transformed again: a second prepare of the
 * layer (here on another backend) fails with a message instead of reading
 * freed weights. */
START_TEST(a_layer_whose_weights_were_dropped_cannot_be_prepared_again)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse(wino_model, "w", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, 2, 5), MC_OK);
    mc_backend *be, *be2;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be2), MC_OK);
    const size_t u = (size_t)16 * 128 * 128 * 4, w = (size_t)9 * 128 * 128 * 4;
    mc_backend_cpu_set_winograd(be, u - w, 1, 0); /* room for the first layer only */
    mc_backend_cpu_set_winograd(be2, 0, 0, 0);
    mc_net n;
    ck_assert_int_eq(mc_net_init(&n, &m, 0, 2, be), MC_OK);
    ck_assert_ptr_nonnull(m.layers[0].cpu_state);
    ck_assert_ptr_null(m.layers[0].weight.data);
    ck_assert_ptr_null(m.layers[1].cpu_state);
    ck_assert_ptr_nonnull(m.layers[1].weight.data);
    mc_net_free(&n);
    ck_assert_ptr_null(m.layers[0].cpu_state);
    mc_net n2;
    ck_assert_int_ne(mc_net_init(&n2, &m, 0, 2, be2), MC_OK);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "layer a"));
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "not loaded"));
    mc_backend_destroy(be);
    mc_backend_destroy(be2);
    mc_model_free(&m);
}
END_TEST

static Suite *farm_memory_suite(void)
{
    Suite *s = suite_create("farm_memory");
    TCase *tc = tcase_create("farm_memory");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_byte_bounded_queue_charges_items_by_size_and_takes_a_big_item_only_when_empty);
    tcase_add_test(tc, metadata_the_handler_sets_comes_back_in_the_response_also_with_an_error);
    tcase_add_test(tc, a_large_input_is_handed_over_in_place_in_the_message_with_the_exact_bytes);
    tcase_add_test(tc, an_encoded_call_gets_another_handshake_without_its_tensor);
    tcase_add_test(tc, a_client_remembers_a_peers_hold_off_and_does_not_retry_a_busy_answer_that_carries_it);
    tcase_add_test(tc, the_winograd_cap_builds_transforms_only_as_far_as_they_fit_with_the_same_results);
    tcase_add_test(tc, a_layer_whose_weights_were_dropped_cannot_be_prepared_again);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(farm_memory_suite()); }
