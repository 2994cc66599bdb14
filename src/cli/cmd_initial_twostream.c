/* cmd_initial_twostream.c - `mchair initial --model twostream|twostream-half
 * --farm S.json,T.json,H.json`: the two-stream model on three farms, the
 * windows kept here or (--windows node) in the head farm's first task
 * (farm/twostream_farm.h).  Its own options because it
 * drives three farms from one video source. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../farm/twostream_farm.h"
#include "cli.h"

static mc_flag ts_stop;
static void on_signal(int sig)
{
    (void)sig;
    ts_stop = 1;
}

typedef struct ts_cli {
    const char *outputs;
    int quiet;
    FILE *scores; /* --outputs: DIR/scores.txt, one line per scored frame */
} ts_cli;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mchair initial --model twostream|twostream-half --farm S.json,T.json,H.json [options]\n"
            "\n"
            "The two-stream model on three farms: S runs twostream-spatial, T twostream-temporal\n"
            "and H twostream-head (or twostream-half-head), each any farm file of that model with\n"
            "its own initial address.  This process reads the video, computes the optical flow,\n"
            "keeps the windows and prints every scored frame (docs/twostream.md).  The paper's\n"
            "systems: `mchair plan --model twostream --system 4|5|8|10|12 --out DIR` writes the three\n"
            "files (4: twostream-half); `mchair plan --model twostream --devices N ...` plans them.\n"
            "\n"
            "  --video SRC[,SRC]   random (default), a folder of images, a Y4M or raw RGB24 file\n"
            "  --streams K         K streams (default 1); farm tags interleave them\n"
            "  --repeat N          frames of each stream (default 40; scores from frame 35 on)\n"
            "  --fps F             each stream's frame rate (default: closed loop)\n"
            "  --seed S            seed of random frames (stream k: S + k; default 1)\n"
            "  --window W          frames in flight per farm (default: its device count)\n"
            "  --timeout S         a frame not back after S seconds is lost (default 60)\n"
            "  --outputs DIR       write DIR/s<stream>_f<frame>.f32, the scores of each frame\n"
            "  --json FILE         write a JSON report\n"
            "  --quiet             only the summary\n"
            "  --drop S:F          fault injection: drop frame F of stream S at the source (the\n"
            "                      spatial farm never sees it; windows skip it and say so)\n"
            "  --windows initial|node  where the pyramid's windows are kept: here (default; each\n"
            "                      frame's two windows go to the head farm) or in the head farm's\n"
            "                      first task, which must have one address (the paper's layout;\n"
            "                      each frame's two new vectors go to it)\n");
}

static void on_score(void *ctx, int stream, long frame, const float *scores, size_t n, int skipped, double lat)
{
    ts_cli *c = ctx;
    if (c->outputs) {
        char p[4096];
        snprintf(p, sizeof p, "%s/s%d_f%ld.f32", c->outputs, stream, frame);
        if (mc_floats_write(p, scores, n)) fprintf(stderr, "mchair initial: %s\n", mc_error_last());
    }
    if (c->quiet) return;
    int best = 0;
    for (size_t k = 1; k < n; k++)
        if (scores[k] > scores[best]) best = (int)k;
    printf("stream %d frame %ld: action %d (%.4f), latency %.1f ms%s%d%s\n", stream, frame, best, scores[best],
           lat * 1e3, skipped ? ", window skipped " : "", skipped, skipped ? " missing vectors" : "");
}

int mc_cmd_initial_twostream(int argc, char **argv)
{
    static const struct option lo[] = {{"model", 1, 0, 'm'},   {"farm", 1, 0, 'f'},   {"video", 1, 0, 'V'},
                                       {"streams", 1, 0, 'K'}, {"repeat", 1, 0, 'r'}, {"fps", 1, 0, 'P'},
                                       {"seed", 1, 0, 's'},    {"window", 1, 0, 'W'}, {"timeout", 1, 0, 'T'},
                                       {"outputs", 1, 0, 'o'}, {"json", 1, 0, 'j'},   {"quiet", 0, 0, 'q'},
                                       {"help", 0, 0, 'h'},    {"drop", 1, 0, 'D'},   {"windows", 1, 0, 'w'},
                                       {0, 0, 0, 0}};
    mc_ts_farm_opts o;
    memset(&o, 0, sizeof o);
    o.video = "random";
    o.streams = 1;
    o.frames = 40;
    o.seed = 1;
    o.drop_stream = -1;
    o.drop_frame = -1;
    ts_cli cli = {0};
    const char *json = NULL;
    char *farms = NULL;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'f': farms = optarg; break;
        case 'V': o.video = optarg; break;
        case 'K': if (mc_parse_pos_int("--streams", optarg, 64, &v)) return 2; o.streams = (int)v; break;
        case 'r': if (mc_parse_pos_int("--repeat", optarg, 1000000, &o.frames)) return 2; break;
        case 'P': o.fps = atof(optarg); if (!(o.fps > 0)) { fprintf(stderr, "mchair initial: --fps %s\n", optarg); return 2; } break;
        case 's': if (mc_parse_pos_int("--seed", optarg, 0x7fffffffL, &v)) return 2; o.seed = (uint64_t)v; break;
        case 'W': if (mc_parse_pos_int("--window", optarg, 1024, &o.window)) return 2; break;
        case 'T': o.timeout_s = atof(optarg); break;
        case 'o': cli.outputs = optarg; break;
        case 'j': json = optarg; break;
        case 'q': o.quiet = cli.quiet = 1; break;
        case 'D':
            if (sscanf(optarg, "%d:%ld", &o.drop_stream, &o.drop_frame) != 2 || o.drop_stream < 0 || o.drop_frame < 0) {
                fprintf(stderr, "mchair initial: --drop STREAM:FRAME, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'w':
            if (!strcmp(optarg, "initial")) o.windows = MC_TS_WINDOWS_INITIAL;
            else if (!strcmp(optarg, "node")) o.windows = MC_TS_WINDOWS_NODE;
            else {
                fprintf(stderr, "mchair initial: --windows initial|node, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char *save = NULL;
    int nf = 0;
    for (char *t = farms ? strtok_r(farms, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
        if (nf < 3) o.farm[nf++] = t;
        else nf = 4;
    if (nf != 3 || optind < argc) {
        fprintf(stderr, "mchair initial: --model %s needs --farm SPATIAL.json,TEMPORAL.json,HEAD.json\n", o.model);
        return 2;
    }
    if (cli.outputs) mkdir(cli.outputs, 0777);
    o.on_score = on_score;
    o.score_ctx = &cli;
    mc_cli_stop_signals(on_signal);
    mc_ts_farm_report r;
    mc_status st = mc_ts_farm_run(&o, &ts_stop, &r);
    if (st) {
        fprintf(stderr, "mchair initial: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
        return 2;
    }
    static const char *const gn[3] = {"spatial", "temporal", "head"};
    printf("%s on 3 farms (windows at %s): %ld frames (%d streams), %ld scored in %.2f s (%.2f scored frames/s once the windows "
           "were full), mean latency "
           "%.1f ms (frame sent to the spatial farm -> scores), %ld vectors skipped by windows, %ld windows dropped; "
           "optical flow %.3f ms a frame at the source\n",
           o.model, o.windows == MC_TS_WINDOWS_NODE ? "the head's first task" : "initial", r.frames, o.streams, r.scored, r.wall_s, r.steady_ips,
           r.mean_latency_s * 1e3, r.skipped_vectors, r.dropped_windows, r.flow_ms);
    for (int g = 0; g < 3; g++)
        printf("  %-8s farm %s: %ld tags, %ld done, %ld dropped, %ld lost; %ld results came after a later tag's; "
               "%ld waited for a task reload (%.3f s in all)\n",
               gn[g], o.farm[g], r.sent[g], r.done[g], r.dropped[g], r.lost[g], r.out_of_order[g], r.reloads[g],
               r.reload_s[g]);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", o.model);
        cJSON_AddNumberToObject(j, "streams", o.streams);
        cJSON_AddStringToObject(j, "windows", o.windows == MC_TS_WINDOWS_NODE ? "node" : "initial");
        cJSON_AddNumberToObject(j, "frames", (double)r.frames);
        cJSON_AddNumberToObject(j, "scored", (double)r.scored);
        cJSON_AddNumberToObject(j, "wall_s", r.wall_s);
        cJSON_AddNumberToObject(j, "steady_ips", r.steady_ips);
        cJSON_AddNumberToObject(j, "mean_latency_s", r.mean_latency_s);
        cJSON_AddNumberToObject(j, "skipped_vectors", (double)r.skipped_vectors);
        cJSON_AddNumberToObject(j, "dropped_windows", (double)r.dropped_windows);
        cJSON_AddNumberToObject(j, "flow_ms", r.flow_ms);
        for (int g = 0; g < 3; g++) {
            cJSON *f = cJSON_AddObjectToObject(j, gn[g]);
            cJSON_AddStringToObject(f, "farm", o.farm[g]);
            cJSON_AddNumberToObject(f, "tags", (double)r.sent[g]);
            cJSON_AddNumberToObject(f, "done", (double)r.done[g]);
            cJSON_AddNumberToObject(f, "dropped", (double)r.dropped[g]);
            cJSON_AddNumberToObject(f, "lost", (double)r.lost[g]);
            cJSON_AddNumberToObject(f, "out_of_order", (double)r.out_of_order[g]);
            cJSON_AddNumberToObject(f, "reloads", (double)r.reloads[g]);
            cJSON_AddNumberToObject(f, "reload_s", r.reload_s[g]);
        }
        char *txt = cJSON_Print(j);
        cJSON_Delete(j);
        FILE *f = txt ? fopen(json, "w") : NULL;
        int bad = !f || fputs(txt, f) < 0;
        if (f && fclose(f)) bad = 1;
        free(txt);
        if (bad) {
            fprintf(stderr, "mchair initial: %s: cannot write the JSON report\n", json);
            return 2;
        }
    }
    return r.lost[0] + r.lost[1] + r.lost[2] ? 1 : 0;
}
