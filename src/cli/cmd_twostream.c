/* cmd_twostream.c - `mchair predict --model twostream|twostream-half`: the
 * two-stream pipeline on this device (models/twostream.h), fed a video
 * frame by frame; scores are printed for every frame once the windows are
 * full.  Its own options because a pipeline reads a video, not an input. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../backend/backend.h"
#include "../models/flow.h"
#include "../models/twostream.h"
#include "../models/video.h"
#include "../models/weights.h"
#include "cli.h"

typedef struct ts_opts {
    const char *model, *video, *dump, *device;
    long frames, threads, seed;
    int quiet;
} ts_opts;

static void ts_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair predict --model twostream|twostream-half [options]\n"
            "\n"
            "Runs the two-stream action recognition pipeline on this device: per frame the\n"
            "spatial CNN, the Farneback optical flow from the previous frame, the temporal CNN\n"
            "over the last 10 flows, and, once the windows\n"
            "hold 15 spatial and 25 temporal vectors, the temporal pyramids and the dense head\n"
            "(docs/twostream.md).  Prints the top-5 actions of every scored frame.\n"
            "\n"
            "  --video SRC         the frames: random (default; frame i as predict's i-th input),\n"
            "                      a folder of images (name order), a Y4M file or a raw RGB24\n"
            "                      file of 16x12 frames; resized to 16x12 (docs/input.md)\n"
            "  --repeat N          frames at most (default 40, or all of a file or folder; the\n"
            "                      first scores come with frame 35)\n"
            "  --seed S            seed of the random weights (spatial S, temporal S+1, head S+2)\n"
            "                      and frames (default 1)\n"
            "  --threads T         compute threads (default: all cores)\n"
            "  --device cpu|gpu    backend (default cpu)\n"
            "  --dump DIR          write the weights of the three graphs (spatial.w, temporal.w,\n"
            "                      head.w), frames.f32, flows.f32 and scores.f32 (for the\n"
            "                      reference test, tests/reference/test_twostream.py)\n"
            "  --quiet             print only the summary\n");
}

static int ts_parse(int argc, char **argv, ts_opts *o)
{
    static const struct option lo[] = {{"model", 1, 0, 'm'}, {"video", 1, 0, 'v'},   {"repeat", 1, 0, 'r'},
                                       {"seed", 1, 0, 's'},  {"threads", 1, 0, 't'}, {"device", 1, 0, 'd'},
                                       {"dump", 1, 0, 'D'},  {"quiet", 0, 0, 'q'},   {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->video = "random";
    o->device = "cpu";
    o->frames = 0;
    o->seed = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'v': o->video = optarg; break;
        case 'r': if (mc_parse_pos_int("--repeat", optarg, 10000000, &o->frames)) return 2; break;
        case 's': if (mc_parse_pos_int("--seed", optarg, 0x7fffffffL, &o->seed)) return 2; break;
        case 't': if (mc_parse_pos_int("--threads", optarg, 1024, &o->threads)) return 2; break;
        case 'd': o->device = optarg; break;
        case 'D': o->dump = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'h': ts_usage(stdout); return 1;
        default: ts_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mchair predict: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* Appends n floats to an open dump file. */
static mc_status dump_floats(FILE *f, const char *path, const float *x, size_t n)
{
    if (f && fwrite(x, sizeof(float), n, f) != n) return mc_error_set(MC_ERR_IO, "%s: write failed", path);
    return MC_OK;
}

int mc_cmd_twostream(int argc, char **argv)
{
    ts_opts o;
    int rc = ts_parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;
    mc_backend *be = NULL;
    mc_backend_kind kind;
    mc_twostream ts;
    mc_video *video = NULL;
    memset(&ts, 0, sizeof ts);
    float *frame = NULL, *flow = NULL, *scores = NULL, *gray[2] = {NULL, NULL};
    FILE *df[3] = {NULL, NULL, NULL};
    char dpath[3][4096];
    static const char *const dnames[3] = {"frames.f32", "flows.f32", "scores.f32"};
    mc_status st;
    if ((st = mc_backend_from_name(o.device, &kind)) || (st = mc_backend_create(kind, (int)o.threads, &be))) goto fail;
    if ((st = mc_twostream_open(&ts, o.model, be, (uint64_t)o.seed))) goto fail;
    const size_t nf = (size_t)ts.w * (size_t)ts.h * 3, nfl = (size_t)ts.w * (size_t)ts.h * 2;
    const size_t ncls = mc_twostream_classes(&ts);
    frame = malloc(nf * sizeof(float));
    flow = malloc(nfl * sizeof(float));
    scores = malloc(ncls * sizeof(float));
    gray[0] = malloc(nf / 3 * sizeof(float));
    gray[1] = malloc(nf / 3 * sizeof(float));
    const mc_flow_params fp = mc_flow_defaults(ts.w, ts.h);
    if (!frame || !flow || !scores || !gray[0] || !gray[1]) {
        st = mc_error_set(MC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (o.dump) {
        static const char *const wn[3] = {"spatial.w", "temporal.w", "head.w"};
        mkdir(o.dump, 0755);
        for (int g = 0; g < 3 && !st; g++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", o.dump, wn[g]);
            st = mc_twostream_save_weights(&ts, g, p);
        }
        for (int k = 0; k < 3 && !st; k++) {
            snprintf(dpath[k], sizeof dpath[k], "%s/%s", o.dump, dnames[k]);
            if (!(df[k] = fopen(dpath[k], "wb"))) st = mc_error_set(MC_ERR_IO, "%s: cannot create", dpath[k]);
        }
        if (st) goto fail;
    }
    if ((st = mc_video_open(o.video, ts.w, ts.h, (uint64_t)o.seed, &video))) goto fail;
    if (!o.frames) o.frames = strcmp(o.video, "random") ? 10000000 : 40;
    printf("%s: %dx%d frames, windows of %d flows, %d spatial and %d temporal vectors, %zu classes\n", o.model, ts.w,
           ts.h, ts.def->flows, ts.def->swin, ts.def->twin, ncls);
    double t0 = mc_now();
    long i;
    for (i = 0; i < o.frames; i++) {
        int eof;
        if ((st = mc_video_next(video, frame, &eof))) goto fail;
        if (eof) break;
        /* the flow from the previous frame (Farneback, models/flow.h) */
        mc_flow_gray(frame, ts.w, ts.h, gray[i & 1]);
        if (i && (st = mc_flow_farneback(gray[(i - 1) & 1], gray[i & 1], ts.w, ts.h, &fp, flow))) goto fail;
        int ready;
        if ((st = dump_floats(df[0], dpath[0], frame, nf))) goto fail;
        if (i && (st = dump_floats(df[1], dpath[1], flow, nfl))) goto fail;
        if ((st = mc_twostream_step(&ts, (uint64_t)i, frame, i ? flow : NULL, scores, &ready))) goto fail;
        if (!ready) continue;
        if ((st = dump_floats(df[2], dpath[2], scores, ncls))) goto fail;
        if (o.quiet) continue;
        int best[5] = {-1, -1, -1, -1, -1};
        for (int c = 0; c < (int)ncls; c++)
            for (int k = 0; k < 5; k++)
                if (best[k] < 0 || scores[c] > scores[best[k]]) {
                    memmove(best + k + 1, best + k, (size_t)(4 - k) * sizeof best[0]);
                    best[k] = c;
                    break;
                }
        printf("frame %ld: top-5", i);
        for (int k = 0; k < 5 && k < (int)ncls; k++) printf(" %d (%.4f)", best[k], scores[best[k]]);
        printf("\n");
    }
    double wall = mc_now() - t0;
    o.frames = i;
    printf("%ld frames, %llu scored, %llu missing; %.2f frames/s; per frame: spatial %.2f ms, temporal %.2f ms, "
           "head %.2f ms (per scored frame)\n",
           o.frames, (unsigned long long)ts.scored, (unsigned long long)ts.gaps, o.frames / wall,
           1e3 * ts.sec[0] / (double)o.frames,
           1e3 * ts.sec[1] / (double)(o.frames > ts.def->flows ? o.frames - ts.def->flows : 1),
           ts.scored ? 1e3 * ts.sec[2] / (double)ts.scored : 0.0);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "mchair: %s\n", mc_error_last());
    rc = 1;
done:
    for (int k = 0; k < 3; k++)
        if (df[k] && fclose(df[k]) && !rc) {
            fprintf(stderr, "mchair: %s: write failed\n", dpath[k]);
            rc = 1;
        }
    free(frame);
    free(flow);
    free(scores);
    free(gray[0]);
    free(gray[1]);
    mc_twostream_close(&ts);
    mc_video_close(video);
    if (be) mc_backend_destroy(be);
    return rc;
}
