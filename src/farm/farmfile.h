/* farmfile.h - the one reader and writer of farm files.
 *
 * A farm file is the CK "avro" machine JSON of the artifact,
 * {"node": {"<task>": [addr...], "initial": [addr]}}, optionally extended with
 * "model", "tasks" (layer ranges, methods, parts: farm.h) and "epoch" (the
 * version of a dynamic farm's table, docs/farm.md).  The planner's farm files
 * add a "plan" object with its predictions; the master sends the same JSON as
 * its table.  Everything that reads or writes that format goes through here:
 * the nodes and initial (mc_farm_load), the master (mc_farm_from_plan,
 * mc_farm_to_json), `mchair plan` (mc_farm_plan_json) and the planner's
 * evaluation of hand-made farms (mc_farm_parse_for_profile, mc_farm_to_plan).
 *
 * Leniency (documented): the artifact's own `ip` files end lists and objects
 * with a trailing comma; a comma followed (after white space) by `]` or `}`
 * is ignored.  Other malformed JSON is reported with line and column.
 */
#ifndef MC_FARMFILE_H
#define MC_FARMFILE_H

#include <cjson/cJSON.h>

#include "../plan/planner.h"
#include "farm.h"

/* Parses farm JSON text; `origin` names it in errors; `model` (may be NULL)
 * overrides/supplies the model when the file has no "model" key.  The model
 * is opened to resolve layer names and check every split part. */
mc_status mc_farm_parse(const char *text, const char *origin, const char *model, mc_farm *f);
mc_status mc_farm_load(const char *path, const char *model, mc_farm *f);
mc_status mc_farm_from_json(const cJSON *root, const char *origin, const char *model, mc_farm *f);
/* A farm file's text (at most 1 MB), malloc'ed; the error names the path. */
mc_status mc_farm_read_text(const char *path, char **text);

/* As mc_farm_parse, with layer names from a profile instead of the model
 * (the planner's evaluation of a farm; split parts are checked against the
 * profile's variants by mc_farm_to_plan). */
mc_status mc_farm_parse_for_profile(const cJSON *root, const char *origin, const mc_profile *p, mc_farm *f);

/* The farm as JSON: "model", "epoch" (when > 0), explicit "tasks" and
 * "node" (a preset farm comes out with its tasks written out). */
cJSON *mc_farm_to_json(const mc_farm *f);
/* The same, unformatted, malloc'ed (the master's table on the wire). */
char *mc_farm_to_text(const mc_farm *f);

/* A feasible plan as a farm: model reference `model` (a built-in name or a
 * model file path), task t's slot i on device pl->tasks[t].devices[i] at
 * dev[that device], results to `initial`. */
mc_status mc_farm_from_plan(const mc_plan *pl, const mc_profile *p, const char *model, const mc_addr *dev,
                            int n_dev, const mc_addr *initial, mc_farm *f);
/* A farm as a plan over profile p (replicas, split variants of the profile),
 * evaluated with the cost model (planner.h), so hand-made farms compare with
 * planned ones.  A split task's method and parts must be in the profile.
 * Without a profile (p NULL) only the structure is filled (no predictions). */
mc_status mc_farm_to_plan(const mc_farm *f, const mc_profile *p, const mc_plan_opts *o, mc_plan *pl);

/* `mchair plan --out`'s farm file for a plan: device d at host:base_port+d,
 * initial at host:initial_port, and a "plan" object with the predictions,
 * the reasons and each device's task. */
cJSON *mc_farm_plan_json(const mc_plan *pl, const mc_profile *p, const char *model, const char *host, int base_port,
                         int initial_port);

/* The built-in presets as "alexnet farm-4/5/6, vgg16 farm-9/8/11, ..." (for
 * messages and --help); truncated to size. */
void mc_farm_preset_list(char *buf, size_t size);

/* A name for task t that is the same in every plan of the model exactly
 * when the task is (layers, method, parts): "first..last", or
 * "layer/method<parts>" for a split task.  A dynamic farm's tasks are named
 * so, so that `next` in a forward call names the same work in every table. */
void mc_farm_task_canonical_name(const mc_farm_task *t, char name[MC_NAME_MAX]);

#endif
