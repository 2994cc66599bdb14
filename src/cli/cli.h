/* cli.h - the mchair subcommands and helpers they share. */
#ifndef MC_CLI_H
#define MC_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../core/tensor.h"

int mc_cmd_predict(int argc, char **argv);
int mc_cmd_profile(int argc, char **argv);
int mc_cmd_plan(int argc, char **argv);
int mc_cmd_node(int argc, char **argv);
int mc_cmd_initial(int argc, char **argv);
int mc_cmd_farm(int argc, char **argv);

/* Reads an input frame for a tensor of shape `s`: raw float32
 * (count*4 bytes), raw uint8 (count bytes, scaled to [0,1]) or a binary PPM
 * (P6) of matching size. */
mc_status mc_input_read(const char *path, mc_shape s, float *out);
mc_status mc_floats_write(const char *path, const float *x, size_t n);

/* Writes the CK timer file: {"execution_time": s, "execution_time_classify": s, ...}. */
mc_status mc_timer_write(const char *path, double sec_per_inference, double classify_sec);

/* Peak resident set size of this process in bytes. */
size_t mc_peak_rss_bytes(void);

/* Parses a positive integer option value or prints an error. */
int mc_parse_pos_int(const char *opt, const char *val, long max, long *out);

#endif
