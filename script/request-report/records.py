"""records.py - every experiment record of ReQuEST results repositories, labelled from its meta.

    load(roots) -> (used, skipped)

A root is a CK repository folder (one holding experiment/), e.g.
../shared/request-results (the original ReQuEST IoT-farm records: RPi farms,
Jetson TX2), this repository (our shipped records) or $CK_REPOS/local.  Each
experiment entry becomes one row per recorded point (ckp-*.flat.json), whatever
its platform and model: the label, the model, the number of devices and the
platform come from the record's own meta (plat_name, farm, farm_devices,
model_design_name/model_species, library_name) and its cmd_key, never from a
list of known records.  What cannot be used is returned in `skipped` with the
reason (not a ReQuEST record, no point, a failed run, no execution time).

Figures per row: latency_s (##characteristics#run#execution_time#mean, seconds
per inference as the ReQuEST records mean it), ips = 1 / latency_s (the
artifact's IPS), throughput_ips where our records have it
(mchair_throughput_ips), energy_j = platform_peak_power x latency_s and
dynamic_j = (peak - idle power) x latency_s where the record declares those
powers (None otherwise, with the reason in energy_note).
Only the Python standard library is used.
"""
import glob
import json
import os
import re

PREFIX = "ck-request-asplos18-iot-farm-"
SPECIES = {"c0ad9b9800422f98": "alexnet", "a3fcac86d42bdbc4": "vgg16"}
MODEL_NAMES = {"alexnet": "AlexNet", "vgg16": "VGG16"}


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def number(flat, key):
    v = flat.get("##characteristics#run#%s#mean" % key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def model_of(meta, cmd_key):
    """(key, display name) of the record's model: its species, else its design name, else the cmd_key."""
    sp = meta.get("model_species", "")
    if sp in SPECIES:
        return SPECIES[sp], MODEL_NAMES[SPECIES[sp]]
    name = re.split(r"[\s(]", (meta.get("model_design_name") or "").strip())[0]
    if name:
        return name.lower(), name
    m = re.match(r"benchmark-([a-z0-9]+)-", cmd_key or "")
    if m:
        return m.group(1), MODEL_NAMES.get(m.group(1), m.group(1))
    return "unknown", "unknown model"


def devices_of(meta, cmd_key):
    """Farm devices: meta farm_devices, else 'N devices' in meta farm, else farm-N of the cmd_key, else 1."""
    v = meta.get("farm_devices")
    if isinstance(v, (int, float)) and v >= 1:
        return int(v)
    m = re.search(r"(\d+)\s+(devices|nodes)", meta.get("farm", "") or "")
    if m:
        return int(m.group(1))
    m = re.search(r"farm-(\d+)-nodes", cmd_key or "")
    return int(m.group(1)) if m else 1


def short_platform(meta):
    p = (meta.get("plat_name") or meta.get("cpu_name") or "unknown platform").strip()
    p = re.sub(r"^Raspberry Pi \((.*)\)$", r"\1", p)  # the original records' "Raspberry Pi (Raspberry Pi 3 Model B)"
    return p


def label_of(row):
    model = row["model_label"]
    what = "farm-%d" % row["devices"] if row["devices"] > 1 else "1 device"
    lab = "%s %s %s, %s" % (model, what, row["device"].upper(), row["platform"])
    if row["emulated"]:
        lab += " (emulated)"
    if row["system"] and row["devices"] > 1:  # the artifact's layout or the planner's plan (emulated records)
        lab += " [%s]" % row["system"]
    return lab + ", " + (row["library"] or "?")


def cmd_key_of(entry, base, meta):
    ff = base + ".features_flat.json"
    if os.path.isfile(ff):
        try:
            k = read_json(ff).get("##choices#cmd_key")
            if k:
                return k
        except (OSError, ValueError):
            pass
    for t in meta.get("tags", []):
        if isinstance(t, str) and t.startswith("benchmark-"):
            return t
    name = os.path.basename(entry)
    return name[len(PREFIX):] if name.startswith(PREFIX) else ""


def load_entry(root, entry):
    """(rows, skip reason or None) of one experiment entry folder."""
    name = os.path.basename(entry)
    try:
        m = read_json(os.path.join(entry, ".cm", "meta.json"))
    except OSError:
        return [], "no .cm/meta.json"
    except ValueError as e:
        return [], ".cm/meta.json is not JSON (%s)" % e
    meta = m.get("meta", {}) if isinstance(m.get("meta"), dict) else {}
    tags = m.get("tags", []) if isinstance(m.get("tags"), list) else []
    if "request-asplos18" not in tags and not meta.get("scenario_module_uoa"):
        return [], "not a ReQuEST record (no request-asplos18 tag, no scenario_module_uoa)"
    points = sorted(f for f in glob.glob(os.path.join(entry, "ckp-*.flat.json"))
                    if not f.endswith(".features_flat.json"))
    if not points:
        return [], "no experiment point (ckp-*.flat.json)"
    rows, why = [], []
    for p in points:
        base = p[:-len(".flat.json")]
        try:
            flat = read_json(p)
        except (OSError, ValueError) as e:
            why.append("%s unreadable (%s)" % (os.path.basename(p), e))
            continue
        ok = flat.get("##characteristics#run#run_success#all")
        if isinstance(ok, list) and ok and any(x != "yes" for x in ok):
            why.append("%s: the run failed (run_success %s)" % (os.path.basename(p), ok))
            continue
        lat = number(flat, "execution_time")
        if lat is None or lat <= 0:
            why.append("%s: no execution time (##characteristics#run#execution_time#mean)" % os.path.basename(p))
            continue
        cmd_key = cmd_key_of(entry, base, meta)
        gpu = cmd_key.endswith("-gpu") or bool(meta.get("gpu_name"))
        row = {"root": root, "name": name, "point": os.path.basename(base), "path": entry, "cmd_key": cmd_key,
               "model": model_of(meta, cmd_key)[0], "model_label": model_of(meta, cmd_key)[1],
               "model_name": meta.get("model_design_name", ""),
               "devices": devices_of(meta, cmd_key), "machines": meta.get("farm_machines"),
               "device": "gpu" if gpu else "cpu", "farm": meta.get("farm", ""),
               "platform": short_platform(meta), "cpu": meta.get("cpu_name", ""),
               "library": meta.get("library_name", ""), "emulated": "emulated-farm" in tags,
               "system": meta.get("farm_system", "") if isinstance(meta.get("farm_system"), str) else "",
               "latency_s": lat, "ips": 1.0 / lat, "throughput_ips": number(flat, "mchair_throughput_ips"),
               "repetitions": len(flat.get("##characteristics#run#execution_time#all") or []),
               "timestamp": meta.get("timestamp", "")}
        peak, idle = meta.get("platform_peak_power"), meta.get("platform_idle_power")
        if isinstance(peak, (int, float)) and not isinstance(peak, bool):
            row["energy_j"] = float(peak) * lat
            row["dynamic_j"] = (float(peak) - float(idle)) * lat if isinstance(idle, (int, float)) else None
            row["energy_note"] = "%g W peak%s (record meta)" % (
                peak, ", %g W idle" % idle if isinstance(idle, (int, float)) else ", idle unknown")
        else:
            row["energy_j"] = row["dynamic_j"] = None
            row["energy_note"] = "no platform_peak_power in the record" + (
                ": %s" % meta["platform_power_note"] if meta.get("platform_power_note") else "")
        row["label"] = label_of(row)
        rows.append(row)
    if not rows:
        return [], "; ".join(why)
    return rows, None


def load(roots):
    """(used rows, skipped [(root, entry name, reason)]) of every experiment entry under roots."""
    used, skipped = [], []
    for root in roots:
        exp = os.path.join(root, "experiment")
        if not os.path.isdir(exp):
            skipped.append((root, "*", "no experiment/ folder: not a CK repository of results"))
            continue
        for name in sorted(os.listdir(exp)):
            entry = os.path.join(exp, name)
            if name.startswith(".") or not os.path.isdir(entry):
                continue
            rows, why = load_entry(root, entry)
            if why:
                skipped.append((root, name, why))
            used += rows
    # several points or repositories may give one label: number them
    seen = {}
    for r in used:
        seen[r["label"]] = seen.get(r["label"], 0) + 1
    count = {}
    for r in used:
        if seen[r["label"]] > 1:
            count[r["label"]] = count.get(r["label"], 0) + 1
            r["label"] += " #%d" % count[r["label"]]
    return used, skipped
