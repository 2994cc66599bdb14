/* devmodel.h - a device model: how long a small device takes for each layer.
 *
 * An emulated Raspberry Pi must take a Pi's time for each task, not the
 * host's time scaled by one factor: on a Pi 3 the dense layers are bound by
 * its memory (1 GB LPDDR2) and a process whose weights do not fit swaps,
 * while convolutions are bound by its four Cortex-A53 cores.  A device model
 * gives each layer a cost from its shapes alone (FLOPs, bytes moved, memory
 * held) and a device's constants, written down as data: a preset file
 * (JSON, docs/emu/device-model.md) whose every number names its source.
 *
 * Cost of one layer l (alias layers, e.g. flatten or a folded batchnorm,
 * cost nothing):
 *
 *   t(l) = overhead + flops(l) / compute[op(l)] + weights(l) / weights_bw
 *                   + tensors(l) / tensors_bw
 *
 *   flops(l)   = 2 x multiply-accumulates (the op table's macs());
 *   weights(l) = 4 x parameters: streamed once per inference (a dense layer
 *                is bound by this on a Pi);
 *   tensors(l) = 4 x (every input + the output) and, for 2-D and 3-D
 *                convolutions with a window larger than 1x1 (or strided),
 *                the patch matrix a TensorFlow-style convolution gathers
 *                (output positions x window x input channels floats): the
 *                large tensors, read and written in a less regular order.
 *
 * A farm's device also moves its messages (journal Procedure 1's model, the
 * planner's: receive + compute + send per frame):
 *
 *   t(messages) = bytes / messages_mb_s + count x link_message_s
 *
 * over its input (a uint8 frame from initial, else float32; one message
 * per part of a split predecessor) and its output (one message per part of
 * a split successor).  It is serial with the compute because the artifact's
 * nodes are: a sender holds a receiver's address until the receiver has
 * computed and answered, and a Pi's Python reads and writes the message
 * (Avro over HTTP on WiFi).  The rate is fitted (scripts/emu/calibrate.py),
 * not the link's raw 62 Mbit/s.  `predict` on one device has no messages.
 *
 * A process (a node's task, or `predict`) holds
 *
 *   footprint = runtime + copies x weights + 2 x largest activation
 *
 * and when that exceeds the device's available memory it swaps: each
 * inference pages min(weights, thrash x overflow) bytes back in at the
 * swap rate (Equation 3's overhead_single in the journal paper).  The swap
 * time is spread over the task's layers in proportion to their weights.
 *
 * Units: memory sizes in MiB (2^20 bytes), rates in MB/s (10^6 bytes per
 * second) and GFLOP/s (10^9 per second).
 */
#ifndef MC_DEVMODEL_H
#define MC_DEVMODEL_H

#include <cjson/cJSON.h>

#include "../models/model.h"

#define MC_DEVMODEL_NAME_MAX 64

typedef struct mc_devmodel {
    char name[MC_DEVMODEL_NAME_MAX]; /* "rpi3" */
    double gflops[MC_OP_COUNT];      /* compute rate per op, GFLOP/s (> 0) */
    double weights_mb_s;             /* memory bandwidth streaming weights */
    double tensors_mb_s;             /* ... and moving activations and convolution patches */
    int conv_patches;                /* count the patch matrix of windowed convolutions */
    double layer_overhead_s;         /* per layer that runs (framework dispatch) */
    double device_mb, available_mb;  /* physical memory; what one process may hold before swapping */
    double runtime_mb;               /* the process itself (interpreter, framework) */
    double weight_copies;            /* copies of each weight the framework holds */
    double swap_mb_s, swap_thrash;   /* paging rate; bytes paged per byte over the limit */
    double link_mbit_s;              /* the device's link (the farm's tbf rate; 0: none given) */
    double link_message_s;           /* fixed cost per message (in t(messages); tbf has none) */
    double messages_mb_s;            /* a device's rate of moving its messages (0: not modeled) */
    double load_mb_s;                /* reading a task's weights from storage (a reload; 0: none given) */
} mc_devmodel;

/* The cost of a layer, or of a layer range (sums, plus the range's swap). */
typedef struct mc_devmodel_cost {
    double flops;              /* work */
    double weight_bytes, tensor_bytes; /* bytes moved */
    double compute_s, memory_s, overhead_s, swap_s;
    double total_s;            /* the sum of the four */
} mc_devmodel_cost;

/* Parses a preset from JSON text / a cJSON tree; `origin` (a path, "rpi3")
 * names it in error messages, which also name the field at fault.  Refuses
 * unknown keys, missing or non-positive rates, unknown op names, memory
 * that does not add up (available > device, runtime >= available). */
mc_status mc_devmodel_parse(const char *text, const char *origin, mc_devmodel *dm);
mc_status mc_devmodel_from_json(const cJSON *j, const char *origin, mc_devmodel *dm);
/* A built-in preset ("rpi3", compiled in from src/devmodel/<name>.json) or,
 * if `name_or_path` is not one, a preset file. */
mc_status mc_devmodel_open(const char *name_or_path, mc_devmodel *dm);
/* NULL-terminated list of the built-in presets' names, and one's text. */
const char *const *mc_devmodel_builtin_names(void);
const char *mc_devmodel_builtin_text(const char *name);

/* One layer's cost without swap (0 for alias layers). */
void mc_devmodel_layer(const mc_devmodel *dm, const mc_layer *l, mc_devmodel_cost *c);
/* Bytes a process running layers [first, last) of m holds (see above). */
double mc_devmodel_footprint(const mc_devmodel *dm, const mc_model *m, int first, int last);
/* Bytes paged per inference for that range (0 when it fits). */
double mc_devmodel_swap_bytes(const mc_devmodel *dm, const mc_model *m, int first, int last);
/* The cost of layers [first, last) run by one process, swap included;
 * per_layer (may be NULL) gets last - first entries, swap spread by weight. */
mc_status mc_devmodel_range(const mc_devmodel *dm, const mc_model *m, int first, int last,
                            mc_devmodel_cost *total, mc_devmodel_cost *per_layer);
/* What the planner may put on one device: (available - runtime) MiB, in
 * the units the modeled profile counts memory in (copies x weights + ...). */
double mc_devmodel_budget_mb(const mc_devmodel *dm);

/* Pads a task to its modeled time: sleeps until mc_now() >= t_start +
 * modeled_s (nothing when that has passed: the host was slower than the
 * model).  Returns the seconds slept. */
double mc_devmodel_pad(double t_start, double modeled_s);

/* Pads layers [first, last) of m, begun at t_start (mc_now()), to their
 * modeled time; returns the modeled seconds (0 for a bad range). */
double mc_devmodel_pad_range(const mc_devmodel *dm, const mc_model *m, int first, int last, double t_start);

/* Seconds a device spends on `count` messages of `bytes` in all (see
 * above; 0 when the preset gives no messages rate). */
double mc_devmodel_messages_s(const mc_devmodel *dm, double bytes, int count);

/* The planner's link for this device (profile.h: a seconds per byte, b per
 * message): the messages rate when given, else the link's raw rate.
 * Returns 0 (a, b untouched) when the preset gives neither. */
int mc_devmodel_plan_link(const mc_devmodel *dm, double *a, double *b);

/* Seconds the device takes to load `bytes` of weights from its storage
 * (bytes / load_mb_s; 0 when the preset gives no load rate). */
double mc_devmodel_load_s(const mc_devmodel *dm, double bytes);

/* The preset as JSON (the numbers in use; for reports and state files). */
cJSON *mc_devmodel_to_json(const mc_devmodel *dm);

#endif
