/* cli.h - the mchair subcommands and helpers they share. */
#ifndef MC_CLI_H
#define MC_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "../core/status.h"
#include "../core/tensor.h"

int mc_cmd_predict(int argc, char **argv);
int mc_cmd_profile(int argc, char **argv);
int mc_cmd_plan(int argc, char **argv);
int mc_cmd_node(int argc, char **argv);
int mc_cmd_initial(int argc, char **argv);
int mc_cmd_farm(int argc, char **argv);
int mc_cmd_master(int argc, char **argv);
int mc_cmd_devmodel(int argc, char **argv);
/* initial --video (initial_video.c): the frames of `streams` streams from
 * spec (one source, or one per stream, comma-separated), resized to `in`,
 * interleaved (tag i: stream i % streams, frame i / streams), as many as
 * `repeat` needs up to 256 MiB; *fps_out the first source's declared rate. */
mc_status mc_initial_video_frames(const char *spec, int streams, long repeat, mc_shape in, uint64_t seed,
                                  float ***frames_out, int *n_out, double *fps_out);
/* predict --model twostream|twostream-half: the two-stream pipeline (cmd_twostream.c) */
int mc_cmd_twostream(int argc, char **argv);
/* initial --model twostream|twostream-half: the model on three farms (cmd_initial_twostream.c) */
int mc_cmd_initial_twostream(int argc, char **argv);

/* Reads an input frame for a tensor of shape `s`: raw float32
 * (count*4 bytes), raw uint8 (count bytes, scaled to [0,1]) or a binary PPM
 * (P6) of matching size. */
/* SIGINT and SIGTERM call `h` (which sets a stop flag); SIGPIPE is ignored
 * (a peer that closes mid-answer must not kill a server or a sender). */
void mc_cli_stop_signals(void (*h)(int));
mc_status mc_input_read(const char *path, mc_shape s, float *out);
mc_status mc_floats_write(const char *path, const float *x, size_t n);

/* Writes the CK timer file: {"execution_time": s, "execution_time_classify": s, ...}. */
mc_status mc_timer_write(const char *path, double sec_per_inference, double classify_sec);

/* Peak resident set size of this process in bytes. */
size_t mc_peak_rss_bytes(void);

/* Parses a positive integer option value or prints an error. */
int mc_parse_pos_int(const char *opt, const char *val, long max, long *out);

/* The master's options (master_opts.c), in the getopt_long tables of
 * `mchair master` and `mchair initial --dynamic`. */
enum {
    MC_OPT_DEVICES = 1000, MC_OPT_MAX_DEVICES, MC_OPT_PROFILE, MC_OPT_PLANS, MC_OPT_MEM, MC_OPT_LINK,
    MC_OPT_DEADLINE, MC_OPT_NO_REBALANCE, MC_OPT_MARGIN, MC_OPT_HOLD, MC_OPT_COOLDOWN, MC_OPT_WIRE_BUDGET,
    MC_OPT_KEY_FILE = 1100, MC_OPT_ENCRYPT
};
#define MC_MASTER_LONGOPTS                                                                                        \
    {"devices", 1, 0, MC_OPT_DEVICES}, {"max-devices", 1, 0, MC_OPT_MAX_DEVICES},                                 \
        {"profile", 1, 0, MC_OPT_PROFILE}, {"plans", 1, 0, MC_OPT_PLANS}, {"mem", 1, 0, MC_OPT_MEM},              \
        {"link", 1, 0, MC_OPT_LINK}, {"deadline", 1, 0, MC_OPT_DEADLINE}, {"no-rebalance", 0, 0, MC_OPT_NO_REBALANCE}, \
        {"margin", 1, 0, MC_OPT_MARGIN}, {"hold", 1, 0, MC_OPT_HOLD}, {"cooldown", 1, 0, MC_OPT_COOLDOWN},           \
        {"wire-budget", 1, 0, MC_OPT_WIRE_BUDGET}
struct mc_master_opts;
void mc_master_usage(FILE *f);
/* 1: option c was the master's and is stored; 0: not the master's; -1: bad value (printed). */
int mc_master_opt(const char *cmd, int c, const char *val, struct mc_master_opts *m);
int mc_master_opts_check(const char *cmd, const struct mc_master_opts *m);

/* The farm key options (key_opts.c): --key-file FILE and --encrypt. */
#define MC_KEY_LONGOPTS {"key-file", 1, 0, MC_OPT_KEY_FILE}, {"encrypt", 0, 0, MC_OPT_ENCRYPT}
struct mc_auth;
void mc_key_usage(FILE *f);
/* Loads the key (path NULL: none, and says so unless quiet) for a process of
 * `role` serving `where` (its address, for the sender name).  0, or -1 after
 * printing why. */
int mc_key_open(const char *cmd, const char *path, int encrypt, const char *role, const char *where, int quiet,
                struct mc_auth **out);

#endif
