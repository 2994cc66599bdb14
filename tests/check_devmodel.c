/* check_devmodel.c - the device model (src/devmodel): its arithmetic on
 * layers whose costs are worked out by hand below, the swap of a process
 * over its memory, the preset parser (the built-in rpi3 equals its file of
 * record; malformed presets are refused naming the field; truncated and
 * mangled presets never crash), the modeled profile, and the pad.
 *
 * The node that pads its frames to the model is tested in
 * tests/emu/test_devmodel.py (processes on loopback). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmodel/devmodel.h"
#include "models/net.h"
#include "models/split.h"
#include "plan/profile.h"
#include "testutil.h"

/* A preset with round numbers: 2 GFLOP/s (conv3d 0.5), weights at 100 MB/s,
 * tensors at 50 MB/s, 1 ms per layer; 32 of 64 MiB available, 8 MiB runtime,
 * 2 weight copies; swap 1 MB/s, thrash 2. */
static const char test_preset[] =
    "{\"name\": \"t\", \"sources\": {\"s\": \"a test\"},\n"
    " \"compute_gflops\": {\"default\": {\"value\": 2, \"source\": \"s\"}, \"conv3d\": 0.5},\n"
    " \"weights_mb_s\": 100, \"tensors_mb_s\": 50, \"conv_patches\": true, \"layer_overhead_s\": 0.001,\n"
    " \"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8, \"weight_copies\": 2},\n"
    " \"swap\": {\"mb_s\": 1, \"thrash\": 2}}\n";

static const char test_model[] = "model t\n"
                                 "input 8 8 4\n"
                                 "conv2d c1 filters=6 kernel=3 padding=same act=relu\n"
                                 "maxpool2d p1 pool=2 stride=2\n"
                                 "flatten f\n"
                                 "dense d1 units=10 act=softmax\n";

static const char test_model3d[] = "model t3\n"
                                   "input 4 4 2 3\n"
                                   "conv3d k1 filters=2 kernel=3 padding=same\n";

typedef struct layer_case {
    const char *model; /* test_model or test_model3d */
    const char *layer;
    double flops, weight_bytes, tensor_bytes, total_s; /* by hand, from the formula of devmodel.h */
} layer_case;

static const layer_case layer_cases[] = {
    /* conv2d 8x8x4 -> 8x8x6, 3x3: MACs 8*8*6*36 = 13824; weights 3*3*4*6 + 6 = 222 floats; tensors
     * in 256 + out 384 + patches 8*8*36 = 2304 floats.  t = 1e-3 + 27648/2e9 + 888/1e8 + 11776/5e7. */
    {test_model, "c1", 27648, 888, 11776, 1e-3 + 27648 / 2e9 + 888 / 1e8 + 11776 / 5e7},
    /* maxpool 2x2: 4x4x6 outputs x 4 = 384 MACs; no weights; tensors 384 + 96 floats. */
    {test_model, "p1", 768, 0, 1920, 1e-3 + 768 / 2e9 + 1920 / 5e7},
    /* flatten is a view: nothing */
    {test_model, "f", 0, 0, 0, 0},
    /* dense 96 -> 10: 960 MACs; weights 970 floats; tensors 106 floats */
    {test_model, "d1", 1920, 3880, 424, 1e-3 + 1920 / 2e9 + 3880 / 1e8 + 424 / 5e7},
    /* conv3d T3 4x4x2 -> 2 filters 3x3x3: MACs 96 * 54 = 5184 at 0.5 GFLOP/s; weights 110 floats;
     * tensors in 96 + out 96 + patches 3*4*4*54 = 2592 floats */
    {test_model3d, "k1", 10368, 440, 11136, 1e-3 + 10368 / 0.5e9 + 440 / 1e8 + 11136 / 5e7},
};

START_TEST(test_a_layer_costs_compute_plus_weights_plus_tensors_plus_overhead)
{
    const layer_case *c = &layer_cases[_i];
    mc_devmodel dm;
    mc_model m;
    ck_assert_msg(!mc_devmodel_parse(test_preset, "test", &dm), "%s", mc_error_last());
    ck_assert_msg(!mc_model_parse(c->model, "test", &m), "%s", mc_error_last());
    int k = mc_model_find_layer(&m, c->layer);
    ck_assert_int_ge(k, 0);
    mc_devmodel_cost cost;
    mc_devmodel_layer(&dm, &m.layers[k], &cost);
    ck_assert_double_eq_tol(cost.flops, c->flops, 1e-9);
    ck_assert_double_eq_tol(cost.weight_bytes, c->weight_bytes, 1e-9);
    ck_assert_double_eq_tol(cost.tensor_bytes, c->tensor_bytes, 1e-9);
    ck_assert_double_eq_tol(cost.total_s, c->total_s, 1e-12);
    ck_assert_double_eq_tol(cost.total_s, cost.compute_s + cost.memory_s + cost.overhead_s, 1e-15);
    ck_assert_double_eq(cost.swap_s, 0);
    mc_model_free(&m);
}
END_TEST

START_TEST(test_a_range_is_the_sum_of_its_layers_when_it_fits)
{
    mc_devmodel dm;
    mc_model m;
    ck_assert(!mc_devmodel_parse(test_preset, "test", &dm));
    ck_assert(!mc_model_parse(test_model, "test", &m));
    mc_devmodel_cost total, per[4];
    ck_assert(!mc_devmodel_range(&dm, &m, 0, 4, &total, per));
    double sum = 0;
    for (int i = 0; i < 4; i++) sum += layer_cases[i].total_s;
    ck_assert_double_eq_tol(total.total_s, sum, 1e-12);
    ck_assert_double_eq(total.swap_s, 0);
    ck_assert_double_eq(mc_devmodel_swap_bytes(&dm, &m, 0, 4), 0);
    /* footprint: 8 MiB + 2 copies x (888 + 3880) bytes + 2 x the largest activation (384 floats) */
    ck_assert_double_eq_tol(mc_devmodel_footprint(&dm, &m, 0, 4), 8 * 1048576.0 + 2 * 4768 + 2 * 1536, 1e-6);
    /* a bad range is an error naming it */
    ck_assert_int_eq(mc_devmodel_range(&dm, &m, 2, 2, &total, NULL), MC_ERR_INVALID_ARG);
    ck_assert_int_eq(mc_devmodel_range(&dm, &m, 0, 5, &total, NULL), MC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(mc_error_last(), "[0, 5)"), "%s", mc_error_last());
    mc_model_free(&m);
}
END_TEST

/* Two dense layers over the 32 MiB available: footprint = 8 MiB + 2 x W + 2 x the largest
 * activation; each inference pages min(W, 2 x (footprint - 32 MiB)) bytes at 1 MB/s, spread
 * over the layers in proportion to their weights. */
START_TEST(test_a_process_over_its_memory_pays_swap_spread_by_weight)
{
    static const char *texts[] = {
        "model s1\ninput 1 1 1024\ndense a units=1536\ndense b units=1024\n", /* just over: 2 x over < W */
        "model s2\ninput 1 1 1024\ndense a units=4096\ndense b units=1024\n", /* over by more: W paged */
    };
    mc_devmodel dm;
    ck_assert(!mc_devmodel_parse(test_preset, "test", &dm));
    for (int t = 0; t < 2; t++) {
        mc_model m;
        ck_assert(!mc_model_parse(texts[t], "test", &m));
        int units = t ? 4096 : 1536;
        double wa = 4.0 * (1024.0 * units + units), wb = 4.0 * (units * 1024.0 + 1024), w = wa + wb;
        double foot = 8 * 1048576.0 + 2 * w + 2 * 4.0 * units;
        double over = foot - 32 * 1048576.0, paged = 2 * over < w ? 2 * over : w;
        ck_assert_double_eq_tol(mc_devmodel_footprint(&dm, &m, 0, 2), foot, 1e-6);
        ck_assert_double_eq_tol(mc_devmodel_swap_bytes(&dm, &m, 0, 2), paged, 1e-6);
        ck_assert(t == 0 ? paged < w : paged == w);
        mc_devmodel_cost total, per[2], la, lb;
        ck_assert(!mc_devmodel_range(&dm, &m, 0, 2, &total, per));
        ck_assert_double_eq_tol(total.swap_s, paged / 1e6, 1e-9);
        ck_assert_double_eq_tol(per[0].swap_s, paged / 1e6 * wa / w, 1e-9);
        ck_assert_double_eq_tol(per[1].swap_s, paged / 1e6 * wb / w, 1e-9);
        mc_devmodel_layer(&dm, &m.layers[0], &la);
        mc_devmodel_layer(&dm, &m.layers[1], &lb);
        ck_assert_double_eq_tol(total.total_s, la.total_s + lb.total_s + paged / 1e6, 1e-9);
        /* s1: one layer alone fits (no swap there); s2: each alone is still over */
        if (t == 0) ck_assert_double_eq(mc_devmodel_swap_bytes(&dm, &m, 1, 2), 0);
        else ck_assert(mc_devmodel_swap_bytes(&dm, &m, 1, 2) > 0);
        mc_model_free(&m);
    }
}
END_TEST

START_TEST(test_the_builtin_rpi3_is_its_file_of_record)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/src/devmodel/rpi3.json", MC_SOURCE_DIR);
    mc_devmodel a, b;
    ck_assert_msg(!mc_devmodel_open("rpi3", &a), "%s", mc_error_last());
    ck_assert_msg(!mc_devmodel_open(path, &b), "%s", mc_error_last());
    ck_assert_str_eq(a.name, "rpi3");
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    /* sane numbers for a Pi: rates positive, the planner's room positive, conv3d slower */
    for (int op = 0; op < MC_OP_COUNT; op++) ck_assert(a.gflops[op] > 0);
    ck_assert(a.weights_mb_s > 0 && a.tensors_mb_s > 0 && a.swap_mb_s > 0);
    ck_assert(mc_devmodel_budget_mb(&a) > 0 && a.available_mb <= a.device_mb);
    ck_assert(a.gflops[MC_OP_CONV3D] < a.gflops[MC_OP_CONV2D]);
    /* a reload reads the weights at the load rate (the one-device system, node_pool.c) */
    ck_assert(a.load_mb_s > 0);
    ck_assert(fabs(mc_devmodel_load_s(&a, 2e6 * a.load_mb_s) - 2.0) < 1e-9);
    ck_assert(mc_devmodel_load_s(&a, 0) == 0 && mc_devmodel_load_s(NULL, 1e6) == 0);
    mc_devmodel none = a;
    none.load_mb_s = 0;
    ck_assert(mc_devmodel_load_s(&none, 1e6) == 0);
    /* a farm device's messages: bytes at the messages rate plus link.message_s each (devmodel.h) */
    ck_assert(a.messages_mb_s > 0 && a.link_message_s > 0);
    ck_assert(fabs(mc_devmodel_messages_s(&a, 3e6 * a.messages_mb_s, 2) - (3.0 + 2 * a.link_message_s)) < 1e-9);
    ck_assert(fabs(mc_devmodel_messages_s(&a, 0, 1) - a.link_message_s) < 1e-12);
    ck_assert(mc_devmodel_messages_s(&a, 1e6, 0) == 0 && mc_devmodel_messages_s(NULL, 1e6, 1) == 0);
    /* the planner charges the same per byte and per message */
    double la = 0, lb = 0;
    ck_assert(mc_devmodel_plan_link(&a, &la, &lb));
    ck_assert(fabs(la * 1e6 * a.messages_mb_s - 1.0) < 1e-12 && lb == a.link_message_s);
    none = a;
    none.messages_mb_s = 0; /* no messages model: no message time; the planner gets the raw link */
    ck_assert(mc_devmodel_messages_s(&none, 1e6, 3) == 0);
    ck_assert(mc_devmodel_plan_link(&none, &la, &lb) && fabs(la - 8.0 / (none.link_mbit_s * 1e6)) < 1e-18);
    none.link_mbit_s = 0;
    la = -1;
    ck_assert(!mc_devmodel_plan_link(&none, &la, &lb) && la == -1);
    const char *const *names = mc_devmodel_builtin_names();
    ck_assert(names[0] && !strcmp(names[0], "rpi3"));
    /* a name that is neither a preset nor a file */
    ck_assert_int_eq(mc_devmodel_open("/no/such/preset.json", &a), MC_ERR_IO);
    ck_assert_msg(strstr(mc_error_last(), "/no/such/preset.json"), "%s", mc_error_last());
}
END_TEST

typedef struct bad_case {
    const char *text;
    const char *says; /* the message names this */
} bad_case;

#define GOOD_TAIL                                                                                                  \
    "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}}"
static const bad_case bad_cases[] = {
    {"", "not valid JSON"},
    {"{\"name\": \"x\"", "not valid JSON"},
    {"[1, 2]", "JSON object"},
    {"{\"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL, "\"name\""},
    {"{\"name\": \"x\", \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL, "compute_gflops"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"conv2d\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL,
     "\"default\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1, \"convv2d\": 1}, \"weights_mb_s\": 1, "
     "\"tensors_mb_s\": 1, " GOOD_TAIL,
     "convv2d"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 0}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL,
     "compute_gflops.default"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": -2}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL,
     "out of range"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": \"6\"}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL,
     "needs a number"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1e999}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL,
     "compute_gflops.default"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"tensors_mb_s\": 1, " GOOD_TAIL, "weights_mb_s"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"bandwidth\": 3, " GOOD_TAIL,
     "unknown key \"bandwidth\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": {\"value\": 1, \"source\": \"nowhere\"}}, "
     "\"weights_mb_s\": 1, \"tensors_mb_s\": 1, " GOOD_TAIL,
     "source \"nowhere\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": {\"value\": 1, \"sauce\": \"s\"}}, \"weights_mb_s\": 1, "
     "\"tensors_mb_s\": 1, " GOOD_TAIL,
     "unknown key \"sauce\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 128, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}}",
     "exceeds memory.device_mb"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 32}, \"swap\": {\"mb_s\": 1}}",
     "runtime_mb"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8, \"weight_copies\": 0.5}, "
     "\"swap\": {\"mb_s\": 1}}",
     "memory.weight_copies"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}}",
     "\"swap\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}, "
     "\"link\": {\"mbit_s\": 0}}",
     "link.mbit_s"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}, "
     "\"load\": {\"mb_s\": 0}}",
     "load.mb_s"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}, "
     "\"load\": {\"mbs\": 3}}",
     "unknown key \"mbs\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}, "
     "\"messages\": {\"mb_s\": 0}}",
     "messages.mb_s"},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}, "
     "\"messages\": {\"mb_s\": 1, \"rate\": 2}}",
     "unknown key \"rate\""},
    {"{\"name\": \"x\", \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, \"tensors_mb_s\": 1, "
     "\"memory\": {\"device_mb\": 64, \"available_mb\": 32, \"runtime_mb\": 8}, \"swap\": {\"mb_s\": 1}, "
     "\"messages\": 3}",
     "messages"},
    {"{\"name\": \"x\", \"sources\": {\"a\": 3}, \"compute_gflops\": {\"default\": 1}, \"weights_mb_s\": 1, "
     "\"tensors_mb_s\": 1, " GOOD_TAIL,
     "sources.a"},
};

START_TEST(test_a_malformed_preset_is_refused_naming_the_field)
{
    const bad_case *c = &bad_cases[_i];
    mc_devmodel dm;
    mc_status st = mc_devmodel_parse(c->text, "bad.json", &dm);
    ck_assert_msg(st == MC_ERR_FORMAT, "case %d accepted (or %s): %s", _i, mc_status_to_string(st), c->text);
    ck_assert_msg(strstr(mc_error_last(), "bad.json") && strstr(mc_error_last(), c->says),
                  "case %d: message '%s' does not name '%s'", _i, mc_error_last(), c->says);
}
END_TEST

/* Every prefix of the rpi3 preset is refused; a preset with one byte changed is refused
 * with a message, or accepted with usable numbers; nothing crashes (ASan/UBSan builds). */
START_TEST(test_truncated_and_mangled_presets_never_pass_as_broken_models)
{
    const char *full = mc_devmodel_builtin_text("rpi3");
    ck_assert(full);
    size_t n = strlen(full);
    char *buf = malloc(n + 1);
    ck_assert(buf);
    mc_devmodel dm;
    for (size_t len = 0; len < n - 2; len += 5) { /* the tail is "}\n" */
        memcpy(buf, full, len);
        buf[len] = '\0';
        ck_assert_msg(mc_devmodel_parse(buf, "cut", &dm) == MC_ERR_FORMAT, "a prefix of %zu bytes parsed", len);
        ck_assert(strlen(mc_error_last()) > 0);
    }
    static const char subst[] = {'x', '"', '-', '9', '}', ',', '0', ':', '{', 'e'};
    int accepted = 0, refused = 0;
    for (size_t i = 0; i < n; i += 3) {
        memcpy(buf, full, n + 1);
        buf[i] = subst[i % sizeof subst];
        mc_status st = mc_devmodel_parse(buf, "mangled", &dm);
        if (st == MC_OK) {
            accepted++;
            for (int op = 0; op < MC_OP_COUNT; op++) ck_assert(dm.gflops[op] > 0 && isfinite(dm.gflops[op]));
            ck_assert(dm.weights_mb_s > 0 && dm.tensors_mb_s > 0 && dm.swap_mb_s > 0);
            ck_assert(dm.available_mb <= dm.device_mb && dm.runtime_mb < dm.available_mb);
        } else {
            refused++;
            ck_assert_int_eq(st, MC_ERR_FORMAT);
            ck_assert(strstr(mc_error_last(), "mangled"));
        }
    }
    ck_assert(refused > 0 && accepted > 0); /* changes inside a source's text are harmless */
    free(buf);
}
END_TEST

START_TEST(test_the_modeled_profile_holds_the_models_costs)
{
    mc_devmodel dm;
    mc_model m;
    ck_assert(!mc_devmodel_open("rpi3", &dm));
    ck_assert(!mc_model_builtin("alexnet", &m));
    int parts[] = {2, 3};
    mc_profile p;
    ck_assert_msg(!mc_profile_model(&m, &dm, parts, 2, &p), "%s", mc_error_last());
    ck_assert_int_eq(p.n_layers, m.n_layers);
    for (int i = 0; i < m.n_layers; i++) {
        mc_devmodel_cost c;
        ck_assert(!mc_devmodel_range(&dm, &m, i, i + 1, &c, NULL));
        ck_assert_double_eq_tol(p.layers[i].cost.latency, c.total_s, 1e-12);
        const mc_layer *l = &m.layers[i];
        double act = 4.0 * (double)(mc_shape_count(&l->in) > mc_shape_count(&l->out) ? mc_shape_count(&l->in)
                                                                                         : mc_shape_count(&l->out));
        ck_assert_double_eq_tol(p.layers[i].cost.weight_bytes, dm.weight_copies * c.weight_bytes, 1e-6);
        ck_assert_double_eq_tol(p.layers[i].cost.mem_bytes, dm.weight_copies * c.weight_bytes + 2 * act, 1e-6);
    }
    int fc1 = mc_model_find_layer(&m, "fc1");
    ck_assert_int_ge(fc1, 0);
    ck_assert_int_ge(p.layers[fc1].n_splits, 2);
    for (int s = 0; s < p.layers[fc1].n_splits; s++) {
        const mc_prof_split *sp = &p.layers[fc1].splits[s];
        if (sp->method != MC_SPLIT_FC_OUTPUT || sp->parts != 2) continue;
        mc_split_part part;
        ck_assert(!mc_split_make_part(&m.layers[fc1], MC_SPLIT_FC_OUTPUT, 2, 0, 0, 0, &part));
        mc_devmodel_cost c;
        mc_devmodel_layer(&dm, &part.layer, &c);
        ck_assert_double_eq_tol(sp->cost.latency, c.total_s, 1e-12);
        ck_assert(sp->cost.latency < 0.6 * p.layers[fc1].cost.latency);
    }
    mc_profile_free(&p);
    mc_model_free(&m);
}
END_TEST

START_TEST(test_the_pad_waits_out_the_modeled_time_and_not_a_passed_one)
{
    double t0 = mc_now();
    mc_devmodel_pad(t0, 0.02);
    ck_assert(mc_now() - t0 >= 0.02); /* the clock is read until the end has passed */
    ck_assert_double_eq(mc_devmodel_pad(mc_now() - 1.0, 0.5), 0); /* the host was slower: no wait */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("devmodel");
    TCase *t = tcase_create("devmodel");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_a_layer_costs_compute_plus_weights_plus_tensors_plus_overhead, 0,
                        (int)(sizeof layer_cases / sizeof layer_cases[0]));
    tcase_add_test(t, test_a_range_is_the_sum_of_its_layers_when_it_fits);
    tcase_add_test(t, test_a_process_over_its_memory_pays_swap_spread_by_weight);
    tcase_add_test(t, test_the_builtin_rpi3_is_its_file_of_record);
    tcase_add_loop_test(t, test_a_malformed_preset_is_refused_naming_the_field, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(t, test_truncated_and_mangled_presets_never_pass_as_broken_models);
    tcase_add_test(t, test_the_modeled_profile_holds_the_models_costs);
    tcase_add_test(t, test_the_pad_waits_out_the_modeled_time_and_not_a_passed_one);
    suite_add_tcase(s, t);
    return mc_test_run(s);
}
