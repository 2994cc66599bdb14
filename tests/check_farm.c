/* check_farm.c - farm files, presets, routing, the merge table, bounded
 * queues, the fc_output part weights and the Avro IPC codec (in-process).
 * The multi-process farm tests are tests/farm/farm_test.py. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "farm/farmfile.h"
#include "farm/frame.h"
#include "farm/node.h"
#include "farm/queue.h"
#include "farm/send.h"
#include "models/net.h"
#include "models/weights.h"
#include "net/avro_ipc.h"
#include "testutil.h"

/* ---------------------------------------------------------------- farm files */

/* The artifact's ip file style: trailing commas everywhere. */
static const char artifact_f5[] = "{\n"
                                  "  \"node\": {\n"
                                  "    \"initial\": [\"192.168.1.2\",],\n"
                                  "    \"block1\": [\"192.168.1.3\",],\n"
                                  "    \"block2\": [\"192.168.1.4\", \"192.168.1.5\",],\n"
                                  "    \"block3\": [\"192.168.1.6\",],\n"
                                  "  },\n"
                                  "}\n";

typedef struct preset_case {
    const char *model, *json, *preset;
    int n_tasks;
    const char *split_task; /* task split by fc_output, or NULL */
    int parts, replicas_of_first;
} preset_case;

static const preset_case preset_cases[] = {
    {"alexnet", artifact_f5, "alexnet farm-5", 3, "block2", 2, 1},
    {"alexnet",
     "{\"node\":{\"initial\":[\"a\"],\"block1\":[\"b\"],\"block2\":[\"c\"],\"block3\":[\"d\"]}}",
     "alexnet farm-4", 3, NULL, 1, 1},
    {"alexnet",
     "{\"node\":{\"initial\":[\"a\"],\"block1\":[\"b\",\"b2\"],\"block2\":[\"c\",\"c2\"],\"block3\":[\"d\"]}}",
     "alexnet farm-6", 3, "block2", 2, 2},
    {"vgg16",
     "{\"node\":{\"initial\":[\"a\"],\"block1\":[\"b\"],\"block234\":[\"c\",\"d\",\"e\"],\"block5\":[\"f\"],"
     "\"fc1\":[\"g\",\"h\"],\"fc2\":[\"i\"]}}",
     "vgg16 farm-9", 5, "fc1", 2, 1},
    {"vgg16",
     "{\"node\":{\"initial\":[\"a\"],\"block1\":[\"b\"],\"block234\":[\"c\",\"d\"],\"block5\":[\"f\"],"
     "\"fc1\":[\"g\",\"h\"],\"fc2\":[\"i\"]}}",
     "vgg16 farm-8", 5, "fc1", 2, 1},
    {"vgg16",
     "{\"node\":{\"initial\":[\"a\"],\"block12345\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"],"
     "\"fc1\":[\"g\",\"h\"],\"fc2\":[\"i\"]}}",
     "vgg16 farm-11", 3, "fc1", 2, 7},
};
#define N_PRESET_CASES ((int)(sizeof preset_cases / sizeof preset_cases[0]))

START_TEST(the_artifact_farms_load_as_built_in_presets)
{
    const preset_case *c = &preset_cases[_i];
    mc_farm f;
    mc_status st = mc_farm_parse(c->json, "farm.json", c->model, &f);
    ck_assert_msg(st == MC_OK, "%s: %s", c->preset, mc_error_last());
    ck_assert_str_eq(f.preset, c->preset);
    ck_assert_int_eq(f.n_tasks, c->n_tasks);
    ck_assert_int_eq(f.tasks[0].first, 0);
    for (int i = 1; i < f.n_tasks; i++) ck_assert_int_eq(f.tasks[i].first, f.tasks[i - 1].last);
    ck_assert_int_eq(mc_farm_replicas(&f.tasks[0]), c->replicas_of_first);
    ck_assert_int_eq(f.initial.port, MC_FARM_INITIAL_PORT);
    ck_assert_int_eq(f.tasks[0].addr[0].port, MC_FARM_TASK_PORT);
    for (int i = 0; i < f.n_tasks; i++) {
        int split = c->split_task && !strcmp(f.tasks[i].name, c->split_task);
        ck_assert_int_eq(f.tasks[i].method, split ? MC_SPLIT_FC_OUTPUT : MC_SPLIT_DATA);
        ck_assert_int_eq(f.tasks[i].parts, split ? c->parts : 1);
    }
}
END_TEST

START_TEST(alexnet_farm5_tasks_are_the_design_layer_ranges)
{
    mc_farm f;
    mc_model m;
    ck_assert_int_eq(mc_farm_parse(artifact_f5, "ip", "alexnet", &f), MC_OK);
    ck_assert_int_eq(mc_model_builtin("alexnet", &m), MC_OK);
    ck_assert_int_eq(f.tasks[0].first, mc_model_find_layer(&m, "conv1"));
    ck_assert_int_eq(f.tasks[0].last, mc_model_find_layer(&m, "flatten") + 1);
    ck_assert_int_eq(f.tasks[1].first, mc_model_find_layer(&m, "fc1"));
    ck_assert_int_eq(f.tasks[1].last, mc_model_find_layer(&m, "fc1") + 1);
    ck_assert_int_eq(f.tasks[2].last, m.n_layers);
    ck_assert_str_eq(f.tasks[1].addr[1].host, "192.168.1.5");
    mc_model_free(&m);
}
END_TEST

START_TEST(planner_style_farm_files_with_every_method_load)
{
    /* Unknown keys ("plan") are ignored; tasks may start with a pool layer. */
    const char *j = "{\"model\":\"alexnet\",\"plan\":{\"n_devices\":9,\"why\":\"x\"},\"tasks\":["
                    "{\"name\":\"a\",\"layers\":[\"conv1\",\"conv1\"],\"method\":\"conv_spatial\",\"parts\":6,"
                    "\"grid\":[3,2]},"
                    "{\"name\":\"b\",\"layers\":[\"pool1\",\"pool1\"]},"
                    "{\"name\":\"c\",\"layers\":[\"conv2\",\"conv2\"],\"method\":\"conv_filter\",\"parts\":2,"
                    "\"grid\":[1,1]},"
                    "{\"name\":\"d\",\"layers\":[\"pool2\",\"conv3\"]},"
                    "{\"name\":\"e\",\"layers\":[\"conv4\",\"conv4\"],\"method\":\"conv_channel\",\"parts\":3},"
                    "{\"name\":\"f\",\"layers\":[\"conv5\",\"flatten\"]},"
                    "{\"name\":\"g\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_input\",\"parts\":2},"
                    "{\"name\":\"h\",\"layers\":[\"fc2\",\"fc2\"]},"
                    "{\"name\":\"k\",\"layers\":[\"fc3\",\"fc3\"],\"method\":\"fc_output\",\"parts\":2}],"
                    "\"node\":{\"initial\":[\"i\"],\"a\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"],\"b\":[\"7\"],"
                    "\"c\":[\"8\",\"9\"],\"d\":[\"10\"],\"e\":[\"11\",\"12\",\"13\"],\"f\":[\"14\"],"
                    "\"g\":[\"15\",\"16\"],\"h\":[\"17\"],\"k\":[\"18\",\"19\"]}}";
    mc_farm f;
    ck_assert_msg(mc_farm_parse(j, "plan.json", NULL, &f) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(f.n_tasks, 9);
    ck_assert_int_eq(f.tasks[0].method, MC_SPLIT_CONV_SPATIAL);
    ck_assert_int_eq(f.tasks[0].parts, 6);
    ck_assert_int_eq(f.tasks[0].grid[0], 3);
    ck_assert_int_eq(f.tasks[0].grid[1], 2);
    ck_assert_int_eq(f.tasks[2].method, MC_SPLIT_CONV_FILTER);
    ck_assert_int_eq(f.tasks[4].method, MC_SPLIT_CONV_CHANNEL);
    ck_assert_int_eq(f.tasks[6].method, MC_SPLIT_FC_INPUT);
    ck_assert_int_eq(f.tasks[8].method, MC_SPLIT_FC_OUTPUT);
    /* the parts are split.h's: part 5 of the 3x2 grid is the bottom-right tile of conv1's 56x56 output */
    mc_model m;
    ck_assert_int_eq(mc_model_open("alexnet", &m), MC_OK);
    mc_split_part p;
    ck_assert_int_eq(mc_farm_task_part(&m, &f.tasks[0], 5, &p), MC_OK);
    ck_assert_int_eq(p.out_y0, 37);
    ck_assert_int_eq(p.out_y1, 56);
    ck_assert_int_eq(p.out_x0, 28);
    ck_assert_int_eq(p.out_x1, 56);
    mc_split_part *all;
    ck_assert_int_eq(mc_farm_task_parts(&m, &f.tasks[1], &all), MC_OK);
    ck_assert_ptr_null(all); /* a data task has no parts */
    mc_model_free(&m);
}
END_TEST

START_TEST(explicit_tasks_and_ports_are_read_from_the_file)
{
    const char *j = "{\"model\":\"alexnet\",\"tasks\":["
                    "{\"name\":\"a\",\"layers\":[\"conv1\",\"pool2\"]},"
                    "{\"name\":\"b\",\"layers\":[\"conv3\",\"flatten\"]},"
                    "{\"name\":\"c\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":4},"
                    "{\"name\":\"d\",\"layers\":[\"fc2\",\"fc3\"]}],"
                    "\"node\":{\"initial\":[\"127.0.0.1:7000\"],\"a\":[\"h:1\"],\"b\":[\"h:2\",\"h:3\"],"
                    "\"c\":[\"h:4\",\"h:5\",\"h:6\",\"h:7\",\"h:8\",\"h:9\",\"h:10\",\"h:11\"],\"d\":[\"h:12\"]}}";
    mc_farm f;
    ck_assert_msg(mc_farm_parse(j, "x.json", NULL, &f) == MC_OK, "%s", mc_error_last());
    ck_assert_str_eq(f.model, "alexnet");
    ck_assert_str_eq(f.preset, "");
    ck_assert_int_eq(f.n_tasks, 4);
    ck_assert_int_eq(f.initial.port, 7000);
    ck_assert_int_eq(f.tasks[2].parts, 4);
    ck_assert_int_eq(mc_farm_replicas(&f.tasks[2]), 2);
    ck_assert_int_eq(mc_farm_devices(&f), 1 + 1 + 2 + 8 + 1);
}
END_TEST

typedef struct bad_case {
    const char *json, *model, *must_contain, *also;
} bad_case;

static const bad_case bad_cases[] = {
    {"{\n  \"node\": {\n    \"initial\": [\"a\"]\n    \"block1\": [\"b\"]\n  }\n}\n", "alexnet", "farm.json:4:5",
     "malformed"},
    {"{\"node\": {\"initial\": [\"a\"], \"block1\": [\"b\"], \"block2\": [\"c\"], \"block3\": [\"d\"], "
     "\"blockX\": [\"e\"]}}",
     "alexnet", "blockX", "not a task"},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"flatten\"]},"
     "{\"name\":\"b\",\"layers\":[\"fc1\",\"fc3\"]}],\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"]}}",
     NULL, "'b'", "no addresses"},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"flatten\"]},"
     "{\"name\":\"b\",\"layers\":[\"fc1\",\"fc3\"]}],\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"],\"b\":[]}}",
     NULL, "'b'", "no addresses"},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"flatten\"]},"
     "{\"name\":\"b\",\"layers\":[\"fc2\",\"fc3\"]}],\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"],\"b\":[\"y\"]}}",
     NULL, "task 'b' starts at layer fc2", NULL},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"flatten\"]},"
     "{\"name\":\"b\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
     "{\"name\":\"c\",\"layers\":[\"fc2\",\"fc3\"]}],"
     "\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"],\"b\":[\"y\",\"z\",\"w\"],\"c\":[\"v\"]}}",
     NULL, "task 'b' is split into 2 parts but has 3 addresses", NULL},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"nosuch\"]}],"
     "\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"]}}",
     NULL, "no layer 'nosuch'", NULL},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"fc3\"],\"method\":\"magic\"}],"
     "\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"]}}",
     NULL, "unknown method", NULL},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"fc2\"]}],"
     "\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"]}}",
     NULL, "the model goes on to fc3", NULL},
    {"{\"node\":{\"block1\":[\"b\"]}}", "alexnet", "no \"initial\"", NULL},
    {"{\"node\":{\"initial\":[\"a\"],\"block1\":[\"b\"]}}", NULL, "--model", NULL},
    {"{\"node\":{\"initial\":[\"a\"],\"block1\":[\"b:99999\"],\"block2\":[\"c\"],\"block3\":[\"d\"]}}", "alexnet",
     "bad port", NULL},
    {"{\"node\":{\"initial\":[\"a\"],\"t1\":[\"b\"],\"t2\":[\"c\"]}}", "alexnet", "no \"tasks\" and no built-in",
     NULL},
    {"[1, 2", "alexnet", "farm.json:1:", "malformed"},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"fc3\"],\"wire\":\"bf16\"}],"
     "\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"]}}",
     NULL, "task 'a': \"wire\" must be", NULL},
    {"{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"fc3\"],\"wire\":16}],"
     "\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"]}}",
     NULL, "farm.json", "\"f16\""},
    /* split tasks: exactly the split layer; what split.h refuses is named */
#define SPLIT_FARM(first, last, method, extra, rest, rest_first)                                                    \
    "{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"s\",\"layers\":[\"" first "\",\"" last "\"],"                  \
    "\"method\":\"" method "\"" extra "},{\"name\":\"r\",\"layers\":[\"" rest_first "\",\"fc3\"]}],"              \
    "\"node\":{\"initial\":[\"i\"],\"s\":[" rest "],\"r\":[\"y\"]}}"
    {SPLIT_FARM("conv1", "pool1", "conv_spatial", ",\"grid\":[2,2]", "\"a\",\"b\",\"c\",\"d\"", "conv2"), NULL,
     "exactly one layer", "pool1"},
    {SPLIT_FARM("conv1", "conv1", "conv_spatial", ",\"parts\":4", "\"a\",\"b\",\"c\",\"d\"", "pool1"), NULL,
     "conv_spatial needs \"grid\"", NULL},
    {SPLIT_FARM("conv1", "conv1", "conv_spatial", ",\"grid\":[2,2],\"parts\":3", "\"a\",\"b\",\"c\"", "pool1"),
     NULL, "is not grid 2x2", NULL},
    {SPLIT_FARM("conv1", "conv1", "conv_filter", ",\"parts\":4", "\"a\",\"b\",\"c\",\"d\"", "pool1"), NULL,
     "input channels", "'s'"},
    {SPLIT_FARM("conv1", "conv1", "fc_input", ",\"parts\":2", "\"a\",\"b\"", "pool1"), NULL, "dense", "conv1"},
    {SPLIT_FARM("conv1", "conv1", "conv_spatial", ",\"grid\":[57,1]", "\"a\"", "pool1"), NULL, "finer", NULL},
#undef SPLIT_FARM
};
#define N_BAD ((int)(sizeof bad_cases / sizeof bad_cases[0]))

START_TEST(bad_farm_files_are_refused_with_the_place_named)
{
    const bad_case *c = &bad_cases[_i];
    mc_farm f;
    mc_status st = mc_farm_parse(c->json, "farm.json", c->model, &f);
    ck_assert_msg(st != MC_OK, "case %d was accepted", _i);
    ck_assert_msg(strstr(mc_error_last(), c->must_contain), "case %d: '%s' lacks '%s'", _i, mc_error_last(),
                  c->must_contain);
    if (c->also) ck_assert_msg(strstr(mc_error_last(), c->also), "case %d: '%s' lacks '%s'", _i, mc_error_last(), c->also);
}
END_TEST

START_TEST(tags_go_round_robin_and_all_parts_of_a_tag_to_one_replica)
{
    mc_farm_task t;
    memset(&t, 0, sizeof t);
    t.parts = 2;
    t.n_addr = 6; /* 3 replicas of 2 parts */
    ck_assert_int_eq(mc_farm_route(&t, "0"), 0);
    ck_assert_int_eq(mc_farm_route(&t, "1"), 2);
    ck_assert_int_eq(mc_farm_route(&t, "2"), 4);
    ck_assert_int_eq(mc_farm_route(&t, "3"), 0);
    int r = mc_farm_route(&t, "frame-x");
    ck_assert(r >= 0 && r < 6 && r % 2 == 0);
    ck_assert_int_eq(mc_farm_route(&t, "frame-x"), r);
}
END_TEST

/* Replica weights (farm.h): each replica gets exactly its weight of every
 * wtotal tags, interleaved (no run longer than needed), the parts of a tag
 * still go to one replica; equal weights are plain round-robin. */
START_TEST(weighted_replicas_get_their_share_interleaved)
{
    static const struct {
        int r, w[4];
    } cases[] = {{2, {1, 8}}, {3, {2, 3, 3}}, {4, {8, 1, 1, 8}}, {2, {5, 5}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mc_farm_task t;
        memset(&t, 0, sizeof t);
        snprintf(t.name, sizeof t.name, "t");
        t.parts = 2;
        t.n_addr = 2 * cases[c].r;
        ck_assert_int_eq(mc_farm_task_set_weights(&t, cases[c].w, cases[c].r), MC_OK);
        int total = 0, same = 1, got[4] = {0};
        for (int r = 0; r < cases[c].r; r++) {
            total += cases[c].w[r];
            same &= cases[c].w[r] == cases[c].w[0];
        }
        ck_assert_int_eq(t.wtotal, same ? 0 : total);
        for (int tag = 0; tag < 10 * total; tag++) {
            char s[16];
            snprintf(s, sizeof s, "%d", tag);
            int a = mc_farm_route(&t, s);
            ck_assert(a % 2 == 0 && a < t.n_addr);
            if (same) ck_assert_int_eq(a / 2, tag % cases[c].r);
            got[a / 2]++;
        }
        for (int r = 0; r < cases[c].r; r++) ck_assert_int_eq(got[r], 10 * cases[c].w[r] * (same ? total / cases[c].r / cases[c].w[r] : 1));
        if (!same) { /* interleaved: the heaviest replica never takes more than its weight's run */
            int run = 0, prev = -1, longest = 0;
            for (int x = 0; x < total; x++) {
                run = t.wpattern[x] == prev ? run + 1 : 1;
                prev = t.wpattern[x];
                longest = run > longest ? run : longest;
            }
            int wmax = 0, wmin = 99;
            for (int r = 0; r < cases[c].r; r++) {
                wmax = cases[c].w[r] > wmax ? cases[c].w[r] : wmax;
                wmin = cases[c].w[r] < wmin ? cases[c].w[r] : wmin;
            }
            ck_assert_int_le(longest, (wmax + wmin - 1) / wmin + 1);
        }
    }
    mc_farm_task t;
    memset(&t, 0, sizeof t);
    t.parts = 1;
    t.n_addr = 2;
    int bad[2] = {0, 3};
    ck_assert_int_ne(mc_farm_task_set_weights(&t, bad, 2), MC_OK);
    ck_assert_int_ne(mc_farm_task_set_weights(&t, bad + 1, 1), MC_OK);
}
END_TEST

/* The writer and the reader are one module: a farm with an epoch, split
 * tasks and replica weights comes back the same; canonical names name the
 * work (layers, method, parts), not the position. */
START_TEST(a_farm_written_and_read_back_is_the_same_farm)
{
    static const char text[] =
        "{\"model\":\"alexnet\",\"epoch\":7,\"tasks\":["
        "{\"name\":\"a\",\"layers\":[\"conv1\",\"flatten\"],\"weights\":[1,3],\"wire\":\"f16\"},"
        "{\"name\":\"b\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_input\",\"parts\":2,\"wire\":\"int8\"},"
        "{\"name\":\"c\",\"layers\":[\"fc2\",\"fc3\"]}],"
        "\"node\":{\"initial\":[\"10.0.0.1:9999\"],\"a\":[\"10.0.0.2:1\",\"10.0.0.3:2\"],"
        "\"b\":[\"10.0.0.4:3\",\"10.0.0.5:4\"],\"c\":[\"10.0.0.6:5\"]}}";
    mc_farm *f = malloc(sizeof *f), *g = malloc(sizeof *g);
    ck_assert_msg(mc_farm_parse(text, "t.json", NULL, f) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(f->epoch, 7);
    ck_assert_int_eq(f->tasks[0].wtotal, 4);
    ck_assert_int_eq(f->tasks[0].wire, MC_WIRE_F16);
    ck_assert_int_eq(f->tasks[1].wire, MC_WIRE_INT8);
    ck_assert_int_eq(f->tasks[2].wire, MC_WIRE_F32); /* absent: float32 */
    char *back = mc_farm_to_text(f);
    ck_assert_ptr_nonnull(back);
    ck_assert_msg(mc_farm_parse(back, "back.json", NULL, g) == MC_OK, "%s: %s", back, mc_error_last());
    free(back);
    ck_assert_int_eq(g->epoch, 7);
    ck_assert_int_eq(g->n_tasks, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(g->tasks[i].name, f->tasks[i].name);
        ck_assert_int_eq(g->tasks[i].first, f->tasks[i].first);
        ck_assert_int_eq(g->tasks[i].last, f->tasks[i].last);
        ck_assert_int_eq(g->tasks[i].method, f->tasks[i].method);
        ck_assert_int_eq(g->tasks[i].parts, f->tasks[i].parts);
        ck_assert_int_eq(g->tasks[i].n_addr, f->tasks[i].n_addr);
        for (int k = 0; k < f->tasks[i].n_addr; k++) ck_assert(mc_addr_equal(&g->tasks[i].addr[k], &f->tasks[i].addr[k]));
        ck_assert_int_eq(g->tasks[i].wtotal, f->tasks[i].wtotal);
        ck_assert_int_eq(g->tasks[i].wire, f->tasks[i].wire);
        ck_assert(!memcmp(g->tasks[i].wpattern, f->tasks[i].wpattern, sizeof f->tasks[i].wpattern));
    }
    ck_assert(mc_addr_equal(&g->initial, &f->initial));
    char n0[MC_NAME_MAX], n1[MC_NAME_MAX], n2[MC_NAME_MAX];
    mc_farm_task_canonical_name(&f->tasks[0], n0);
    mc_farm_task_canonical_name(&f->tasks[1], n1);
    mc_farm_task_canonical_name(&f->tasks[2], n2);
    ck_assert_str_eq(n0, "conv1..flatten");
    ck_assert_str_eq(n1, "fc1/fc_input2");
    ck_assert_str_eq(n2, "fc2..fc3");
    /* the task that starts where another ends */
    ck_assert_int_eq(mc_farm_task_at(f, f->tasks[0].last, 12), 1);
    ck_assert_int_eq(mc_farm_task_at(f, 12, 12), 3);
    ck_assert_int_eq(mc_farm_task_at(f, 3, 12), -1);
    mc_addr a;
    ck_assert_int_eq(mc_addr_parse("10.0.0.5:4", 1, &a), MC_OK);
    ck_assert_int_eq(mc_farm_task_addr_index(&f->tasks[1], &a), 1);
    /* bad weights are refused with the task named */
    static const char badw[] = "{\"model\":\"alexnet\",\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"fc3\"],"
                               "\"weights\":[1,9]}],\"node\":{\"initial\":[\"i\"],\"a\":[\"x\",\"y\"]}}";
    ck_assert_int_ne(mc_farm_parse(badw, "w.json", NULL, g), MC_OK);
    ck_assert_msg(strstr(mc_error_last(), "w.json") && strstr(mc_error_last(), "weights"), "%s", mc_error_last());
    free(f);
    free(g);
}
END_TEST

/* Addresses: host, host:port, [IPv6]:port and bare IPv6; bad ones named. */
START_TEST(addresses_parse_with_ipv6_and_print_back)
{
    static const struct {
        const char *in, *host;
        int port;
        const char *out;
    } ok[] = {{"10.0.0.1", "10.0.0.1", 7, "10.0.0.1:7"},          {"node-3:12345", "node-3", 12345, "node-3:12345"},
              {"[::1]:9999", "::1", 9999, "[::1]:9999"},           {"[fe80::1%eth0]", "fe80::1%eth0", 7, "[fe80::1%eth0]:7"},
              {"2001:db8::2", "2001:db8::2", 7, "[2001:db8::2]:7"}, {"localhost:1", "localhost", 1, "localhost:1"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        mc_addr a, b;
        char buf[96];
        ck_assert_msg(mc_addr_parse(ok[i].in, 7, &a) == MC_OK, "%s: %s", ok[i].in, mc_error_last());
        ck_assert_str_eq(a.host, ok[i].host);
        ck_assert_int_eq(a.port, ok[i].port);
        ck_assert_str_eq(mc_addr_str(&a, buf, sizeof buf), ok[i].out);
        ck_assert_int_eq(mc_addr_parse(buf, 1, &b), MC_OK); /* what it prints parses back */
        ck_assert(mc_addr_equal(&a, &b));
    }
    static const char *const bad[] = {"", ":9", "[::1", "[::1]x", "[::1]:", "h:0", "h:65536", "h:12a", "[]:5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mc_addr a;
        ck_assert_msg(mc_addr_parse(bad[i], 7, &a) != MC_OK, "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(mc_error_last(), bad[i]), "%s: %s", bad[i], mc_error_last());
    }
}
END_TEST

/* A call whose metadata map has thousands of distinct keys (more than the
 * decoder's fixed allocation table, and arrays larger than the message):
 * Avro C grows its map without checking allocations, so this once crashed a
 * node; now it is decoded within bounds, refused as malformed, nothing is
 * left allocated, and the next call is served. */
static mc_status count_calls(void *ctx, mc_ipc_forward *f)
{
    (void)f;
    (*(int *)ctx)++;
    return MC_OK;
}

START_TEST(a_metadata_entry_is_removed_and_the_others_keep_their_order)
{
    mc_ipc_meta m = {0};
    mc_ipc_meta_set(&m, "mc.part", "1/2");
    mc_ipc_meta_set(&m, "mc.wire", "f16");
    mc_ipc_meta_set(&m, "mc.t.a", "0.1");
    mc_ipc_meta_del(&m, "mc.wire");
    ck_assert_int_eq(m.n, 2);
    ck_assert_ptr_null(mc_ipc_meta_get(&m, "mc.wire"));
    ck_assert_str_eq(m.key[0], "mc.part");
    ck_assert_str_eq(m.key[1], "mc.t.a");
    ck_assert_str_eq(m.val[1], "0.1");
    mc_ipc_meta_del(&m, "absent");
    ck_assert_int_eq(m.n, 2);
}
END_TEST

/* A forward call of `len` input bytes to task `next` with tag `tag`, no metadata. */
static mc_ipc_forward forward_call(const void *input, size_t len, const char *next, const char *tag)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)input;
    f.input_len = len;
    snprintf(f.next, sizeof f.next, "%s", next);
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    return f;
}

START_TEST(a_call_with_too_many_metadata_entries_is_refused_not_leaked)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    mc_ipc_forward f = forward_call("abcd", 4, "t", "1");
    unsigned char *body, *resp;
    size_t len, rl;
    ck_assert_int_eq(mc_ipc_request_encode(ipc, 0, &f, &body, &len), MC_OK);
    /* after the 4-byte frame length and the 34-byte handshake (two hashes,
     * two null unions) the empty call metadata map is one 0 byte: replace it
     * with one block of 6000 distinct entries "kNNNN" -> "" */
    ck_assert_int_eq(body[4 + 34], 0);
    const int entries = 6000;
    size_t n = len - 8, add = 3 + (size_t)entries * 7;
    unsigned char *msg = malloc(n + add);
    size_t o = 0;
    memcpy(msg, body + 4, 34);
    o = 34;
    unsigned v = (unsigned)entries * 2; /* zigzag varint of the block count */
    while (v >= 0x80) {
        msg[o++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    msg[o++] = (unsigned char)v;
    for (int i = 0; i < entries; i++) {
        msg[o++] = 10; /* key length 5 */
        o += (size_t)sprintf((char *)msg + o, "k%04d", i);
        msg[o++] = 0; /* value: 0 bytes */
    }
    msg[o++] = 0; /* end of the map */
    memcpy(msg + o, body + 4 + 35, n - 35);
    o += n - 35;
    unsigned char *framed;
    size_t flen;
    ck_assert_int_eq(mc_ipc_frame(msg, o, &framed, &flen), MC_OK);
    int calls = 0;
    int code = mc_ipc_serve(ipc, framed, flen, count_calls, &calls, &resp, &rl);
    ck_assert_int_eq(calls, 0);
    ck_assert_int_eq(code, 200); /* an Avro error answer naming the limit */
    mc_ipc_match m;
    ck_assert_int_ne(mc_ipc_response_decode(ipc, resp, rl, &m), MC_OK);
    ck_assert_msg(strstr(mc_error_last(), "6000 entries"), "%s", mc_error_last());
    free(resp);
    /* the same call without the extra entries is served */
    code = mc_ipc_serve(ipc, body, len, count_calls, &calls, &resp, &rl);
    ck_assert_int_eq(code, 200);
    ck_assert_int_eq(calls, 1);
    free(resp);
    free(framed);
    free(msg);
    free(body);
    mc_ipc_free(ipc);
}
END_TEST

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &len));
    close(fd);
    return ntohs(a.sin_port);
}

/* Failover bookkeeping (send.h, rpc.h): an unreachable peer is down for a
 * while, doubling per failure; the replica a tag goes to skips down ones in
 * ring order and falls back to the routed one when all are down. */
START_TEST(an_unreachable_replica_is_down_for_a_while_and_tags_go_to_the_next)
{
    mc_farm_task t;
    memset(&t, 0, sizeof t);
    t.parts = 1;
    t.n_addr = 3;
    for (int k = 0; k < 3; k++) {
        snprintf(t.addr[k].host, sizeof t.addr[k].host, "127.0.0.1");
        t.addr[k].port = closed_port();
    }
    mc_ipc *ipc;
    mc_rpc *r;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    ck_assert_int_eq(mc_rpc_new(ipc, &r), MC_OK);
    ck_assert_int_eq(mc_farm_pick_replica(r, &t, "0"), 0);
    ck_assert(mc_rpc_down_s(r, "127.0.0.1", t.addr[0].port) == 0);

    mc_ipc_forward f = forward_call("x", 1, "t", "0");
    int used = 0;
    mc_rpc_policy pol = {.attempts = 5, .backoff0_s = 0.001, .backoff_max_s = 0.002, .unreachable_attempts = 2};
    double t_call = mc_now();
    ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", t.addr[0].port, &f, pol, NULL, &used), MC_ERR_NETWORK);
    ck_assert_int_eq(used, 2); /* unreachable_attempts cut the 5 tries short */
    double d1 = mc_rpc_down_s(r, "127.0.0.1", t.addr[0].port);
    /* down for 1 s from the failure: no more, and no less than 1 s minus the
     * time since the call began (true however slow the machine) */
    double since = mc_now() - t_call;
    ck_assert_msg(d1 <= 1.0 && d1 >= 1.0 - since - 1e-3, "down for %.3f s, %.3f s after the call", d1, since);
    ck_assert_int_eq(mc_rpc_failures(r, "127.0.0.1", t.addr[0].port), 1);
    ck_assert_int_eq(mc_farm_pick_replica(r, &t, "0"), 1); /* skips replica 0 */
    ck_assert_int_eq(mc_farm_pick_replica(r, &t, "2"), 2); /* others keep their route */
    ck_assert_int_eq(mc_farm_pick_replica(r, &t, "3"), 1);

    pol.unreachable_attempts = 0;
    t_call = mc_now();
    ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", t.addr[0].port, &f, pol, NULL, &used), MC_ERR_NETWORK);
    ck_assert_int_eq(used, 5);
    double d2 = mc_rpc_down_s(r, "127.0.0.1", t.addr[0].port);
    since = mc_now() - t_call; /* 2 s after the second failure in a row (doubled) */
    ck_assert_msg(d2 <= 2.0 && d2 >= 2.0 - since - 1e-3, "down for %.3f s, %.3f s after the call", d2, since);

    /* all down: the routed replica (the caller then tries it anyway) */
    pol.attempts = 1;
    for (int k = 1; k < 3; k++)
        ck_assert_int_eq(mc_rpc_forward(r, "127.0.0.1", t.addr[k].port, &f, pol, NULL, NULL), MC_ERR_NETWORK);
    ck_assert_int_eq(mc_farm_pick_replica(r, &t, "4"), 1);
    ck_assert_int_eq(mc_farm_pick_replica(r, &t, "5"), 2);
    mc_rpc_free(r);
    mc_ipc_free(ipc);
}
END_TEST

/* ---------------------------------------------------------------- merge, queue */

/* A dense layer of `total` units cut into `parts` by fc_output (split.h):
 * the merge table concatenates their outputs. */
typedef struct fc_split {
    mc_model m;
    mc_split_part p[8];
    mc_split_io io;
} fc_split;

static void fc_split_make(fc_split *s, int parts, size_t total)
{
    char text[128];
    snprintf(text, sizeof text, "input 1 1 4\ndense fc units=%zu\n", total);
    ck_assert_int_eq(mc_model_parse(text, "test", &s->m), MC_OK);
    for (int k = 0; k < parts; k++)
        ck_assert_int_eq(mc_split_make_part(&s->m.layers[0], MC_SPLIT_FC_OUTPUT, parts, 0, 0, k, &s->p[k]), MC_OK);
    ck_assert_int_eq(mc_split_io_init(&s->io, &s->m, s->p, parts), MC_OK);
}

static mc_frame *part_frame(const char *tag, int k, int parts, size_t total, float base)
{
    size_t r0 = total * (size_t)k / (size_t)parts, r1 = total * (size_t)(k + 1) / (size_t)parts;
    mc_frame *f = mc_frame_new(tag, r1 - r0);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < f->n; i++) f->data[i] = base + (float)(r0 + i);
    f->part = k;
    char v[32];
    snprintf(v, sizeof v, "%d", k);
    mc_ipc_meta_set(&f->meta, "mc.t.fc1", k == 1 ? "0.5" : "0.25");
    return f;
}

START_TEST(the_merge_waits_for_every_part_of_a_tag_and_places_parts_by_index)
{
    mc_merge m;
    char lost[MC_IPC_TAG_MAX];
    int err;
    fc_split fs;
    fc_split_make(&fs, 3, 10);
    ck_assert_int_eq(mc_merge_init(&m, &fs.io, 4, 30), MC_OK);
    /* parts of two tags, interleaved and out of order */
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("7", 2, 3, 10, 700), 0, lost, &err));
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("8", 0, 3, 10, 800), 0, lost, &err));
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("7", 0, 3, 10, 700), 0, lost, &err));
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("7", 0, 3, 10, 700), 0, lost, &err)); /* duplicate */
    ck_assert_int_eq(mc_merge_pending(&m), 2);
    mc_frame *w = mc_merge_add(&m, part_frame("7", 1, 3, 10, 700), 0, lost, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(w->tag, "7");
    ck_assert_int_eq((int)w->n, 10);
    for (int i = 0; i < 10; i++) ck_assert_float_eq(w->data[i], 700.0f + i);
    ck_assert_str_eq(mc_ipc_meta_get(&w->meta, "mc.t.fc1"), "0.5"); /* slowest part */
    mc_frame_free(w);
    ck_assert_int_eq(mc_merge_pending(&m), 1);
    /* a part of the wrong size is refused */
    mc_frame *bad = mc_frame_new("8", 7);
    bad->part = 1;
    ck_assert_ptr_null(mc_merge_add(&m, bad, 0, lost, &err));
    ck_assert_int_eq(err, 1);
    mc_merge_free(&m);
    mc_model_free(&fs.m);
}
END_TEST

START_TEST(the_merge_table_is_bounded_and_reports_dropped_tags)
{
    mc_merge m;
    char lost[MC_IPC_TAG_MAX];
    int err;
    fc_split fs;
    fc_split_make(&fs, 2, 4);
    ck_assert_int_eq(mc_merge_init(&m, &fs.io, 2, 5.0), MC_OK);
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("1", 0, 2, 4, 0), 1.0, lost, &err));
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("2", 0, 2, 4, 0), 2.0, lost, &err));
    ck_assert_str_eq(lost, "");
    ck_assert_ptr_null(mc_merge_add(&m, part_frame("3", 1, 2, 4, 0), 3.0, lost, &err));
    ck_assert_str_eq(lost, "1"); /* oldest pushed out */
    ck_assert_int_eq(mc_merge_pending(&m), 2);
    ck_assert_int_eq(mc_merge_expire(&m, 6.5, lost), 0); /* nothing older than 5 s yet */
    ck_assert_int_eq(mc_merge_expire(&m, 7.5, lost), 1);
    ck_assert_str_eq(lost, "2");
    ck_assert_int_eq(mc_merge_expire(&m, 7.5, lost), 0);
    mc_merge_free(&m);
    mc_model_free(&fs.m);
}
END_TEST

START_TEST(a_full_queue_refuses_after_its_timeout_instead_of_growing)
{
    mc_queue q;
    int a = 1, b = 2, c = 3;
    ck_assert_int_eq(mc_queue_init(&q, 2), MC_OK);
    ck_assert_int_eq(mc_queue_push(&q, &a, 0.01), 0);
    ck_assert_int_eq(mc_queue_push(&q, &b, 0.01), 0);
    double t0 = mc_now();
    ck_assert_int_eq(mc_queue_push(&q, &c, 0.05), -1);
    ck_assert(mc_now() - t0 >= 0.04);
    ck_assert_ptr_eq(mc_queue_pop(&q, 0), &a);
    ck_assert_ptr_eq(mc_queue_pop(&q, 0), &b);
    ck_assert_ptr_null(mc_queue_pop(&q, 0.01));
    mc_queue_close(&q);
    ck_assert_int_eq(mc_queue_push(&q, &c, 1.0), -1);
    mc_queue_free(&q, NULL);
}
END_TEST

/* ---------------------------------------------------------------- part weights */

START_TEST(an_fc_output_part_holds_exactly_its_rows_of_the_single_device_layer)
{
    mc_model full, part;
    ck_assert_int_eq(mc_model_builtin("alexnet", &full), MC_OK);
    int fc1 = mc_model_find_layer(&full, "fc1");
    ck_assert_int_eq(mc_weights_random(&full, fc1, fc1 + 1, 9), MC_OK);
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    mc_net nf;
    ck_assert_int_eq(mc_net_init(&nf, &full, fc1, fc1 + 1, be), MC_OK);
    size_t in = mc_net_in_count(&nf), units = mc_net_out_count(&nf);
    float *x = malloc(in * sizeof *x), *yf = malloc(units * sizeof *yf), *yp = malloc(units * sizeof *yp);
    mc_input_random(x, in, 4, 0);
    ck_assert_int_eq(mc_net_forward(&nf, x, yf), MC_OK);
    const int parts = 3;
    for (int k = 0; k < parts; k++) {
        ck_assert_int_eq(mc_model_builtin("alexnet", &part), MC_OK);
        mc_farm_task t = {.first = fc1, .last = fc1 + 1, .method = MC_SPLIT_FC_OUTPUT, .parts = parts,
                          .grid = {1, 1}};
        ck_assert_int_eq(mc_node_split_layer(&part, &t, k, 9, NULL), MC_OK);
        size_t r0 = units * (size_t)k / parts, r1 = units * (size_t)(k + 1) / parts;
        mc_layer *l = &part.layers[fc1];
        ck_assert_int_eq(l->units, (int)(r1 - r0));
        ck_assert_int_eq(memcmp(l->weight.data, full.layers[fc1].weight.data + r0 * in, (r1 - r0) * in * 4), 0);
        ck_assert_int_eq(memcmp(l->bias.data, full.layers[fc1].bias.data + r0, (r1 - r0) * 4), 0);
        mc_net np;
        ck_assert_int_eq(mc_net_init(&np, &part, fc1, fc1 + 1, be), MC_OK);
        ck_assert_int_eq(mc_net_forward(&np, x, yp + r0), MC_OK);
        mc_net_free(&np);
        mc_model_free(&part);
    }
    double e = mc_test_max_rel_err(yp, yf, units, 1e-30);
    ck_assert_msg(e <= 1e-6, "concatenated parts differ from the whole layer by %g", e);
    free(x);
    free(yf);
    free(yp);
    mc_net_free(&nf);
    mc_backend_destroy(be);
    mc_model_free(&full);
}
END_TEST

/* A node's part of a convolution with a folded batchnorm, inside a residual
 * block: from the seed and from a weight file, every part (run as a node
 * runs it: its net of the split task alone, part 0 passing the block's input
 * by), merged, equals the single device's piece of the graph. */
typedef struct bn_split_case {
    mc_split_method method;
    int parts, gh, gw;
    int from_file;
} bn_split_case;

static const bn_split_case bn_splits[] = {
    {MC_SPLIT_CONV_CHANNEL, 2, 0, 0, 0},
    {MC_SPLIT_CONV_FILTER, 3, 0, 0, 0},
    {MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 1},
    {MC_SPLIT_CONV_FILTER, 2, 0, 0, 1},
};

START_TEST(a_part_of_a_convolution_with_a_folded_batchnorm_equals_its_share_of_the_folded_layer)
{
    const bn_split_case *c = &bn_splits[_i];
    static const char *text = "model blk\ninput 9 8 6\n"
                              "conv2d a filters=6 kernel=3 padding=same act=relu\n"
                              "conv2d b filters=8 kernel=3 padding=same bias=no\n"
                              "batchnorm bb act=relu\n"
                              "conv2d e in=a filters=8 kernel=1\n"
                              "add f in=bb,e\n";
    char wpath[] = "/tmp/mc_check_farm_w_XXXXXX";
    const char *weights = NULL;
    mc_model full;
    ck_assert_int_eq(mc_model_parse(text, "blk", &full), MC_OK);
    ck_assert_int_eq(mc_weights_random(&full, 0, full.n_layers, 9), MC_OK);
    if (c->from_file) {
        int fd = mkstemp(wpath);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(mc_weights_save(&full, wpath), MC_OK);
        weights = wpath;
    }
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    /* the split task [b, bb]: cut 1 = {a}, cut 3 = {a (passing by), b} */
    mc_farm_task t = {.first = 1, .last = 3, .method = c->method, .parts = c->parts, .grid = {c->gh, c->gw}};
    mc_net n0, n1;
    ck_assert_int_eq(mc_net_init(&n0, &full, 0, 1, be), MC_OK);
    ck_assert_int_eq(mc_net_init(&n1, &full, 1, 3, be), MC_OK);
    const size_t ni = mc_net_in_count(&n0), n_cut1 = mc_net_out_count(&n0), n_cut3 = mc_net_out_count(&n1);
    float *x = malloc(ni * 4), *cut1 = malloc(n_cut1 * 4), *ref = malloc(n_cut3 * 4), *merged = malloc(n_cut3 * 4);
    mc_input_random(x, ni, 2, 0);
    ck_assert_int_eq(mc_net_forward(&n0, x, cut1), MC_OK);
    ck_assert_int_eq(mc_net_forward(&n1, cut1, ref), MC_OK);
    mc_model shapes;
    ck_assert_int_eq(mc_model_parse(text, "blk", &shapes), MC_OK);
    mc_split_part *sp;
    mc_split_io io;
    ck_assert_msg(mc_farm_task_io(&shapes, &t, &sp, &io) == MC_OK, "%s", mc_error_last());
    ck_assert_uint_eq(io.in_total, n_cut1);
    ck_assert_uint_eq(io.out_total, n_cut3);
    mc_split_io_merge_begin(&io, merged);
    for (int k = 0; k < c->parts; k++) {
        mc_model part;
        ck_assert_int_eq(mc_model_parse(text, "blk", &part), MC_OK);
        ck_assert_msg(mc_node_split_layer(&part, &t, k, 9, weights) == MC_OK, "%s", mc_error_last());
        ck_assert(part.layers[1].bn_folded);
        mc_net np;
        ck_assert_msg(mc_net_init_ex(&np, &part, 1, 3, be, MC_NET_OWN_TENSORS) == MC_OK, "%s", mc_error_last());
        const size_t th = k == 0 ? io.through : 0;
        ck_assert_uint_eq(mc_net_in_count(&np) + th, mc_split_io_in_count(&io, k));
        ck_assert_uint_eq(mc_net_out_count(&np) + th, mc_split_io_out_count(&io, k));
        float *in = malloc(mc_split_io_in_count(&io, k) * 4), *out = malloc(mc_split_io_out_count(&io, k) * 4);
        mc_split_io_slice(&io, k, cut1, in);
        memcpy(out, in, th * 4);
        ck_assert_int_eq(mc_net_forward(&np, in + th, out + th), MC_OK);
        mc_split_io_merge_add(&io, k, out, merged);
        free(in);
        free(out);
        mc_net_free(&np);
        mc_model_free(&part);
    }
    mc_split_io_merge_end(&io, merged);
    double e = mc_test_max_rel_err(merged, ref, n_cut3, 1e-3);
    ck_assert_msg(e <= 1e-5, "%s/%d%s: merged parts differ from the folded layer by %g", mc_split_name(c->method),
                  c->parts, c->from_file ? " (weight file)" : "", e);
    if (weights) unlink(wpath);
    free(sp);
    free(x);
    free(cut1);
    free(ref);
    free(merged);
    mc_net_free(&n0);
    mc_net_free(&n1);
    mc_backend_destroy(be);
    mc_model_free(&shapes);
    mc_model_free(&full);
}
END_TEST

/* ---------------------------------------------------------------- avro ipc */

typedef struct capture {
    int calls;
    mc_ipc_forward got;
    unsigned char data[64];
    const char *fail_with;
} capture;

static mc_status capture_handler(void *ctx, mc_ipc_forward *f)
{
    capture *c = ctx;
    c->calls++;
    c->got = *f;
    if (f->input_len <= sizeof c->data) memcpy(c->data, f->input, f->input_len);
    if (c->fail_with) return mc_error_set(MC_ERR_SHAPE, "%s", c->fail_with);
    return MC_OK;
}

START_TEST(a_forward_call_round_trips_through_the_avro_codec)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    float x[5] = {1.5f, -2, 3, 0, 7};
    mc_ipc_forward f = forward_call(x, sizeof x, "block2", "42");
    mc_ipc_meta_set(&f.meta, "mc.part", "1/2");
    for (int send_protocol = 0; send_protocol < 2; send_protocol++) {
        unsigned char *body, *resp;
        size_t len, rl;
        ck_assert_int_eq(mc_ipc_request_encode(ipc, send_protocol, &f, &body, &len), MC_OK);
        capture c = {0};
        int code = mc_ipc_serve(ipc, body, len, capture_handler, &c, &resp, &rl);
        ck_assert_int_eq(code, 200);
        ck_assert_int_eq(c.calls, 1);
        ck_assert_str_eq(c.got.next, "block2");
        ck_assert_str_eq(c.got.tag, "42");
        ck_assert_int_eq((int)c.got.input_len, (int)sizeof x);
        ck_assert_int_eq(memcmp(c.data, x, sizeof x), 0);
        ck_assert_str_eq(mc_ipc_meta_get(&c.got.meta, "mc.part"), "1/2");
        mc_ipc_match m;
        ck_assert_int_eq(mc_ipc_response_decode(ipc, resp, rl, &m), MC_OK);
        ck_assert_int_eq(m, MC_IPC_BOTH);
        free(body);
        free(resp);
    }
    mc_ipc_free(ipc);
}
END_TEST

START_TEST(a_handler_error_comes_back_to_the_client_as_an_avro_error)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    mc_ipc_forward f = forward_call("ab", 2, "x", "1");
    unsigned char *body, *resp;
    size_t len, rl;
    ck_assert_int_eq(mc_ipc_request_encode(ipc, 0, &f, &body, &len), MC_OK);
    capture c = {.fail_with = "task x: input of 2 bytes"};
    ck_assert_int_eq(mc_ipc_serve(ipc, body, len, capture_handler, &c, &resp, &rl), 200);
    mc_ipc_match m;
    ck_assert_int_eq(mc_ipc_response_decode(ipc, resp, rl, &m), MC_ERR_NETWORK);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "task x: input of 2 bytes"));
    free(body);
    free(resp);
    mc_ipc_free(ipc);
}
END_TEST

START_TEST(malformed_bodies_get_http_400_and_never_reach_the_handler)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    static const unsigned char bad1[] = "garbage that is not framed";
    static const unsigned char bad2[] = {0, 0, 0, 9, 1, 2};               /* frame runs past the end */
    static const unsigned char bad3[] = {0, 0, 0, 2, 1, 2, 0, 0, 0, 0, 7}; /* bytes after the end */
    static const unsigned char bad4[] = {0, 0, 0, 2, 1, 2, 0, 0, 0, 0};    /* not a handshake */
    const struct {
        const unsigned char *b;
        size_t n;
    } cases[] = {{bad1, sizeof bad1 - 1}, {bad2, sizeof bad2}, {bad3, sizeof bad3}, {bad4, sizeof bad4}, {bad1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        capture c = {0};
        unsigned char *resp;
        size_t rl;
        int code = mc_ipc_serve(ipc, cases[i].b, cases[i].n, capture_handler, &c, &resp, &rl);
        ck_assert_msg(code == 400, "case %zu: HTTP %d", i, code);
        ck_assert_int_eq(c.calls, 0);
        ck_assert_ptr_nonnull(resp);
        free(resp);
    }
    mc_ipc_free(ipc);
}
END_TEST

START_TEST(hostile_lengths_inside_a_forward_call_get_an_avro_error_not_a_huge_allocation)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    float x[5] = {1, 2, 3, 4, 5};
    mc_ipc_forward f = forward_call(x, sizeof x, "b", "1");
    const unsigned char lens[] = {0x35 /* -27 */, 0x7e /* +63: past the end */};
    for (size_t k = 0; k < sizeof lens; k++) {
        unsigned char *body, *resp;
        size_t len, rl;
        ck_assert_int_eq(mc_ipc_request_encode(ipc, 0, &f, &body, &len), MC_OK);
        unsigned char *p = NULL;
        for (size_t i = 1; i + sizeof x <= len; i++)
            if (!memcmp(body + i, x, sizeof x)) p = body + i - 1;
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(*p, 2 * sizeof x); /* zigzag length of the input bytes */
        *p = lens[k];
        capture c = {0};
        ck_assert_int_eq(mc_ipc_serve(ipc, body, len, capture_handler, &c, &resp, &rl), 200);
        ck_assert_int_eq(c.calls, 0);
        mc_ipc_match m;
        ck_assert_int_eq(mc_ipc_response_decode(ipc, resp, rl, &m), MC_ERR_NETWORK);
        ck_assert_ptr_nonnull(strstr(mc_error_last(), "forward parameters do not decode"));
        free(body);
        free(resp);
    }
    mc_ipc_free(ipc);
}
END_TEST

/* Mutation fuzzing (deterministic): corrupted requests are answered 200 or
 * 400 and never crash; under the sanitizer build this also checks memory. */
START_TEST(randomly_corrupted_requests_are_answered_without_crashing)
{
    mc_ipc *ipc;
    ck_assert_int_eq(mc_ipc_new(&ipc), MC_OK);
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    mc_ipc_forward f = forward_call(x, sizeof x, "block1", "17");
    mc_ipc_meta_set(&f.meta, "mc.t.block0", "0.25");
    unsigned char *good;
    size_t len;
    ck_assert_int_eq(mc_ipc_request_encode(ipc, 1, &f, &good, &len), MC_OK);
    unsigned char *body = malloc(len);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int served = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(body, good, len);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t pos = 4 + (size_t)(s % (len - 8)); /* keep the framing, hit the Avro */
            body[pos] = (unsigned char)(s >> 32);
        }
        capture c = {0};
        unsigned char *resp;
        size_t rl;
        int code = mc_ipc_serve(ipc, body, len, capture_handler, &c, &resp, &rl);
        ck_assert_msg(code == 200 || code == 400, "iteration %d: HTTP %d", it, code);
        ck_assert_ptr_nonnull(resp);
        served += c.calls;
        free(resp);
    }
    ck_assert(served > 0); /* some mutations only touch the payload */
    free(body);
    free(good);
    mc_ipc_free(ipc);
}
END_TEST

START_TEST(randomly_corrupted_farm_files_are_refused_or_loaded_never_crash)
{
    size_t n = strlen(artifact_f5);
    char *t = malloc(n + 1);
    uint64_t s = 12345;
    int refused = 0, loaded = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(t, artifact_f5, n + 1);
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        t[s % n] = "{}[],:\"x 0"[(s >> 20) % 10];
        mc_farm f;
        mc_status st = mc_farm_parse(t, "fuzz.json", "alexnet", &f);
        if (st) { /* refused: the message names the file */
            ck_assert_msg(strstr(mc_error_last(), "fuzz.json"), "refusal without the file: %s", mc_error_last());
            refused++;
            continue;
        }
        /* loaded: a farm that covers the model's layers in order, every task
         * with addresses for each of its parts */
        loaded++;
        ck_assert_int_gt(f.n_tasks, 0);
        int next = 0;
        for (int k = 0; k < f.n_tasks; k++) {
            ck_assert_int_eq(f.tasks[k].first, next);
            ck_assert_int_gt(f.tasks[k].last, f.tasks[k].first);
            ck_assert_int_ge(f.tasks[k].parts, 1);
            ck_assert_int_ge(f.tasks[k].n_addr, f.tasks[k].parts);
            ck_assert_int_eq(f.tasks[k].n_addr % f.tasks[k].parts, 0);
            next = f.tasks[k].last;
        }
    }
    /* the mutations do both: some are refused, some (in strings' insides,
     * whitespace) leave a valid file */
    ck_assert_msg(refused > 0 && loaded > 0, "refused %d, loaded %d", refused, loaded);
    free(t);
}
END_TEST

START_TEST(a_body_split_into_many_frames_is_joined)
{
    const unsigned char body[] = {0, 0, 0, 2, 'a', 'b', 0, 0, 0, 3, 'c', 'd', 'e', 0, 0, 0, 0};
    const unsigned char *msg;
    size_t n;
    unsigned char *copy;
    ck_assert_int_eq(mc_ipc_unframe(body, sizeof body, &msg, &n, &copy), MC_OK);
    ck_assert_int_eq((int)n, 5);
    ck_assert_int_eq(memcmp(msg, "abcde", 5), 0);
    free(copy);
}
END_TEST

static Suite *farm_suite(void)
{
    Suite *s = suite_create("farm");
    TCase *tc = tcase_create("farm");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, the_artifact_farms_load_as_built_in_presets, 0, N_PRESET_CASES);
    tcase_add_test(tc, alexnet_farm5_tasks_are_the_design_layer_ranges);
    tcase_add_test(tc, explicit_tasks_and_ports_are_read_from_the_file);
    tcase_add_test(tc, planner_style_farm_files_with_every_method_load);
    tcase_add_loop_test(tc, bad_farm_files_are_refused_with_the_place_named, 0, N_BAD);
    tcase_add_test(tc, tags_go_round_robin_and_all_parts_of_a_tag_to_one_replica);
    tcase_add_test(tc, weighted_replicas_get_their_share_interleaved);
    tcase_add_test(tc, addresses_parse_with_ipv6_and_print_back);
    tcase_add_test(tc, a_call_with_too_many_metadata_entries_is_refused_not_leaked);
    tcase_add_test(tc, a_metadata_entry_is_removed_and_the_others_keep_their_order);
    tcase_add_test(tc, a_farm_written_and_read_back_is_the_same_farm);
    tcase_add_test(tc, an_unreachable_replica_is_down_for_a_while_and_tags_go_to_the_next);
    tcase_add_test(tc, the_merge_waits_for_every_part_of_a_tag_and_places_parts_by_index);
    tcase_add_test(tc, the_merge_table_is_bounded_and_reports_dropped_tags);
    tcase_add_test(tc, a_full_queue_refuses_after_its_timeout_instead_of_growing);
    tcase_add_test(tc, an_fc_output_part_holds_exactly_its_rows_of_the_single_device_layer);
    tcase_add_loop_test(tc, a_part_of_a_convolution_with_a_folded_batchnorm_equals_its_share_of_the_folded_layer, 0,
                        (int)(sizeof bn_splits / sizeof bn_splits[0]));
    tcase_add_test(tc, a_forward_call_round_trips_through_the_avro_codec);
    tcase_add_test(tc, a_handler_error_comes_back_to_the_client_as_an_avro_error);
    tcase_add_test(tc, malformed_bodies_get_http_400_and_never_reach_the_handler);
    tcase_add_test(tc, hostile_lengths_inside_a_forward_call_get_an_avro_error_not_a_huge_allocation);
    tcase_add_test(tc, randomly_corrupted_requests_are_answered_without_crashing);
    tcase_add_test(tc, randomly_corrupted_farm_files_are_refused_or_loaded_never_crash);
    tcase_add_test(tc, a_body_split_into_many_frames_is_joined);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(farm_suite()); }
