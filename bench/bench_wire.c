/* bench_wire.c - what an encoding on the wire does to a model's result, and
 * what it costs (driven by bench/bench_wire.py; not a test).
 *
 *   bench_wire MODEL FRAMES SEED CUT[,CUT...] [THREADS]
 *
 * CUT names the last layer before a cut (a farm task ending there sends its
 * output on).  For each of FRAMES random uint8 frames (mc_input_random_u8,
 * what `mchair initial` sends, scaled to [0, 1] as a node does) the model
 * runs once in float32, keeping the tensors crossing each cut; then, for each
 * cut and each encoding, those tensors go through mc_wire_encode and
 * mc_wire_decode (the nodes' own code) and the rest of the model runs from
 * there.  One JSON object per (cut, encoding) on stdout:
 *   top1: frames whose top class equals float32's; top5: frames where
 *   float32's top class is among the encoded run's five highest;
 *   max_rel / mean_rel: max |p - p32| / max p32 over a frame's probabilities,
 *   the largest and the mean over frames; bytes: the encoded message;
 *   enc_mbps / dec_mbps: float32 megabytes (1e6) a second through encode and
 *   decode of that message on one thread; ref_p1: float32's top probability,
 *   mean over frames (how peaked the random-weight model's output is).
 * Random weights from SEED, as `mchair predict --seed`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "models/model.h"
#include "models/net.h"
#include "models/weights.h"
#include "core/wire.h"

#define MAX_CUTS 16

typedef struct stats {
    long top1, top5;
    double max_rel, sum_rel;
    double enc_s, dec_s, enc_mb;
    size_t bytes;
} stats;

static int argmax(const float *p, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (p[i] > p[b]) b = i;
    return (int)b;
}

/* Whether class c is among the five highest of p. */
static int in_top5(const float *p, size_t n, int c)
{
    int above = 0;
    for (size_t i = 0; i < n; i++) above += p[i] > p[c];
    return above < 5;
}

static double rel_err(const float *p, const float *ref, size_t n)
{
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double e = p[i] > ref[i] ? p[i] - ref[i] : ref[i] - p[i];
        if (e > d) d = e;
        if (ref[i] > m) m = ref[i];
    }
    return d / m;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_wire: %s: %s\n", what, mc_error_last());
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_wire MODEL FRAMES SEED CUT[,CUT...] [THREADS]\n");
        return 2;
    }
    const long frames = atol(argv[2]);
    const uint64_t seed = (uint64_t)atoll(argv[3]);
    const int threads = argc > 5 ? atoi(argv[5]) : 0;
    mc_model m;
    if (mc_model_open(argv[1], &m)) die(argv[1]);
    int ends[MAX_CUTS + 1], nc = 0; /* segment k is layers [ends[k-1], ends[k]) */
    char *list = strdup(argv[4]);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int i = mc_model_find_layer(&m, tok);
        if (i < 0 || nc >= MAX_CUTS || (nc && i + 1 <= ends[nc - 1]) || i + 1 >= m.n_layers) {
            fprintf(stderr, "bench_wire: cut after '%s': no such layer, out of order or the last one\n", tok);
            return 2;
        }
        ends[nc++] = i + 1;
    }
    ends[nc] = m.n_layers;
    mc_backend *be;
    if (mc_backend_create(MC_BACKEND_CPU, threads, &be)) die("backend");
    mc_backend_cpu_set_winograd(be, (size_t)64 << 20, 1, 0); /* as predict */
    if (mc_weights_random(&m, 0, m.n_layers, seed)) die("weights");
    mc_net net[MAX_CUTS + 1];
    float *act[MAX_CUTS + 2]; /* act[0]: the input; act[k + 1]: segment k's output */
    for (int k = 0; k <= nc; k++) {
        if (mc_net_init(&net[k], &m, k ? ends[k - 1] : 0, ends[k], be)) die("net");
        if (!k) act[0] = malloc(mc_net_in_count(&net[0]) * sizeof(float));
        act[k + 1] = malloc(mc_net_out_count(&net[k]) * sizeof(float));
    }
    const size_t nin = mc_net_in_count(&net[0]), nout = mc_net_out_count(&net[nc]);
    uint8_t *u8 = malloc(nin);
    float *p = malloc(nout * sizeof(float)), *tmp[2];
    size_t most = 0;
    for (int k = 0; k < nc; k++)
        if (mc_net_out_count(&net[k]) > most) most = mc_net_out_count(&net[k]);
    for (int k = 0; k <= nc; k++)
        if (mc_net_out_count(&net[k]) > most) most = mc_net_out_count(&net[k]);
    tmp[0] = malloc(most * sizeof(float));
    tmp[1] = malloc(most * sizeof(float));
    unsigned char *coded = malloc(most * sizeof(float) + MC_WIRE_INT8_HEADER);
    static stats st[MAX_CUTS][MC_WIRE_COUNT];
    double sum_p1 = 0;
    for (long f = 0; f < frames; f++) {
        mc_input_random_u8(u8, nin, seed, (uint64_t)f);
        for (size_t i = 0; i < nin; i++) act[0][i] = u8[i] / 255.0f;
        for (int k = 0; k <= nc; k++)
            if (mc_net_forward(&net[k], act[k], act[k + 1])) die("forward");
        const float *ref = act[nc + 1];
        const int c32 = argmax(ref, nout);
        sum_p1 += ref[c32];
        for (int k = 0; k < nc; k++) {
            const size_t n = mc_net_out_count(&net[k]);
            for (int w = 1; w < MC_WIRE_COUNT; w++) {
                stats *s = &st[k][w];
                double t0 = mc_now();
                if (mc_wire_encode((mc_wire)w, act[k + 1], n, coded)) die("encode");
                double t1 = mc_now();
                if (mc_wire_decode((mc_wire)w, coded, mc_wire_bytes((mc_wire)w, n), tmp[0], n)) die("decode");
                double t2 = mc_now();
                s->enc_s += t1 - t0;
                s->dec_s += t2 - t1;
                s->enc_mb += (double)n * 4 / 1e6;
                s->bytes = mc_wire_bytes((mc_wire)w, n);
                /* the rest of the model from the decoded tensor */
                const float *x = tmp[0];
                int b = 1;
                for (int j = k + 1; j <= nc; j++) {
                    float *y = j == nc ? p : tmp[b];
                    if (mc_net_forward(&net[j], x, y)) die("forward");
                    x = y;
                    b ^= 1;
                }
                const double r = rel_err(p, ref, nout);
                s->top1 += argmax(p, nout) == c32;
                s->top5 += in_top5(p, nout, c32);
                if (r > s->max_rel) s->max_rel = r;
                s->sum_rel += r;
            }
        }
        if ((f + 1) % 50 == 0) fprintf(stderr, "bench_wire %s: %ld/%ld frames\n", argv[1], f + 1, frames);
    }
    for (int k = 0; k < nc; k++)
        for (int w = 1; w < MC_WIRE_COUNT; w++) {
            const stats *s = &st[k][w];
            printf("{\"model\":\"%s\",\"cut\":\"%s\",\"wire\":\"%s\",\"frames\":%ld,\"values\":%zu,\"bytes\":%zu,"
                   "\"f32_bytes\":%zu,\"top1\":%ld,\"top5\":%ld,\"max_rel\":%.6g,\"mean_rel\":%.6g,"
                   "\"enc_mbps\":%.1f,\"dec_mbps\":%.1f,\"ref_p1\":%.4g}\n",
                   argv[1], m.layers[ends[k] - 1].name, mc_wire_name((mc_wire)w), frames, mc_net_out_count(&net[k]),
                   s->bytes, mc_net_out_count(&net[k]) * 4, s->top1, s->top5, s->max_rel,
                   frames ? s->sum_rel / (double)frames : 0, s->enc_s > 0 ? s->enc_mb / s->enc_s : 0,
                   s->dec_s > 0 ? s->enc_mb / s->dec_s : 0, frames ? sum_p1 / (double)frames : 0);
        }
    for (int k = 0; k <= nc; k++) mc_net_free(&net[k]);
    mc_backend_destroy(be);
    mc_model_free(&m);
    return 0;
}
