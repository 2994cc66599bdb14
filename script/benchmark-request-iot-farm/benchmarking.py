#!/usr/bin/env python3
"""benchmarking.py - unified ReQuEST benchmarking of program:request-iot-benchmark.

Runs one cmd_key through CK's program pipeline under CK's autotuner with
recording on, so that every run becomes a point of a local CK experiment entry
named as the artifact's, ck-request-asplos18-iot-farm-CMD_KEY
(`ck ls local:experiment:ck-request-asplos18-iot-farm*`, packed by
`ck zip local:experiment:ck-request-asplos18-iot-farm*`), in the shape of the
original ReQuEST ASPLOS'18 IoT-farm records.  It fills in the ReQuEST meta
itself (the artifact used module request.asplos18 from another repository):
platform and CPU of the machine it runs on (/proc/cpuinfo, the device tree,
DMI, /etc/os-release, uname), farm description, model name and species,
library name (mchair) and version, precision, deps_summary (what CK resolved:
OpenBLAS, cJSON, libcurl, libmicrohttpd, Avro C, and CUDA/cuDNN for the GPU
keys, with their versions), and price and power only where they are known:
declared with --device_price/--device_busy_power/--device_idle_power, or from
the artifact paper's table of a platform this is (Raspberry Pi 3 Model B,
Jetson TX2; see KNOWN_PLATFORMS).  It adds the derived characteristics the
scoreboard reads (inference_latency, inference_throughput,
prediction_time_avg_s) and, with power figures, energy per inference.

    python3 benchmarking.py --cmd_key=benchmark-alexnet-single-device-cpu
    python3 benchmarking.py --cmd_key=benchmark-vgg16-farm-11-nodes --target=farm-11

Farm cmd_keys need the farm's task nodes running (the ...-start-server cmd_key).
"""
import argparse
import copy
import datetime
import json
import os
import platform
import re
import subprocess
import sys

import ck.kernel as ck

PROGRAM = "request-iot-benchmark"
RECORD_PREFIX = "ck-request-asplos18-iot-farm-"  # the artifact's record names (appendix A.7)
REPO_UOA = "mchair"
REPO_UID = "8c34f0dac82d0e58"
REPORT_UID = "344edb6653fa86b1"  # this submission (report and artifact)
SCENARIO_MODULE = "a555738be4b65860"  # module:request.asplos18 (the scoreboard's scenario)
SUBVIEW_UOA = "f84ca49f79a1446a"  # the scoreboard's view of these records (as the original records name it)
ALGORITHM_SPECIES = "f4f75a0a6b65e4cd"  # image classification simulation (random weights and inputs)
MODELS = {
    "alexnet": ("c0ad9b9800422f98", "AlexNet (single-stream variant of the ReQuEST IoT-farm artifact, mchair C)"),
    "vgg16": ("a3fcac86d42bdbc4", "VGG 16 (mchair C)"),
}
# Raspberry Pi 3 Model B figures of the artifact paper (Table 1), per device.
RPI_PRICE_USD = 40.0
RPI_BUSY_W = 6.5
RPI_IDLE_W = 1.3
RPI_PRICE_DATE = "20170811"  # the date the ReQuEST records give this price
# Platforms whose price and power are known: the artifact paper's Tables 1 and 2 (price;
# idle and 100%-utilization power).  `match` is a regular expression on the board model
# (device tree / cpuinfo "Model").  Anything else gets price and power only if declared.
KNOWN_PLATFORMS = (
    {"match": r"raspberry pi 3 model b( rev|$)", "name": "Raspberry Pi 3 Model B", "price_usd": RPI_PRICE_USD,
     "price_date": RPI_PRICE_DATE, "idle_w": RPI_IDLE_W, "busy_w": RPI_BUSY_W,
     "source": "ReQuEST'18 artifact paper, Table 1 (Raspberry Pi 3)"},
    {"match": r"jetson[- ]tx2|quill", "name": "NVIDIA Jetson TX2", "price_usd": 600.0, "price_date": "",
     "idle_w": 5.0, "busy_w": 15.0, "source": "ReQuEST'18 artifact paper, Table 2 (Jetson TX2)"},
)


def fail(msg):
    return {"return": 1, "error": msg}


def read_text(path):
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def board_model(keys):
    """The board's model: device tree (Raspberry Pi, Jetson), cpuinfo's Model, else ''."""
    m = read_text("/proc/device-tree/model").replace("\x00", "").strip()
    return m or keys.get("Model", "")


def cpuinfo():
    """CPU name, ABI, core count, features and board model from /proc/cpuinfo and uname."""
    txt = read_text("/proc/cpuinfo")
    keys = {}
    nproc = 0
    for line in txt.splitlines():
        if ":" not in line:
            continue
        k, v = [x.strip() for x in line.split(":", 1)]
        if k == "processor":
            nproc += 1
        keys.setdefault(k, v)
    name = keys.get("model name") or keys.get("Hardware") or keys.get("cpu model") or platform.processor()
    sub = keys.get("Hardware", "")
    return {
        "name": name or platform.machine(),
        "sub_name": sub,
        "hardware": keys.get("Hardware", ""),
        "board_model": board_model(keys),
        "num_proc": nproc or (os.cpu_count() or 1),
        "features": keys.get("flags") or keys.get("Features", ""),
        "abi": platform.machine(),
    }


def os_name():
    for line in read_text("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system() + " " + platform.release()


def plat_name(cpu):
    """The board's model (e.g. "Raspberry Pi 3 Model B Rev 1.2"), else the machine's DMI vendor
    and product with its CPU, else the architecture with the CPU."""
    if cpu["board_model"]:
        return cpu["board_model"]
    vendor = read_text("/sys/class/dmi/id/sys_vendor").strip()
    prod = read_text("/sys/class/dmi/id/product_name").strip()
    x = (vendor + " " + prod).strip()
    return "%s (%s)" % (x, cpu["name"]) if x else "%s machine (%s)" % (cpu["abi"], cpu["name"])


def known_platform(cpu):
    """The KNOWN_PLATFORMS row of this machine, or None."""
    text = (cpu["board_model"] + "\n" + plat_name(cpu)).lower()
    for p in KNOWN_PLATFORMS:
        if any(re.search(p["match"], line) for line in text.splitlines()):
            return p
    return None


def mchair_version(root):
    try:
        r = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty", "--tags"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
        v = r.stdout.strip()
        if r.returncode == 0 and v:
            return "git-" + v
    except OSError:
        pass
    return "unknown"


def load_farm(path):
    txt = read_text(path)
    txt = re.sub(r",\s*([\]}])", r"\1", txt)  # the artifact's files have trailing commas
    try:
        return json.loads(txt)
    except ValueError:
        return {}


def parse_cmd_key(k):
    m = re.match(r"^benchmark-(alexnet|vgg16)-(single-device-(cpu|gpu)|farm-(\d+)-nodes)$", k)
    if not m:
        return None
    return {"model": m.group(1), "device": m.group(3) or "cpu",
            "farm_n": int(m.group(4)) if m.group(4) else 0}


def farm_hosts(farm):
    """Farm devices (every address, initial included) and machines (distinct hosts)."""
    addrs = [a for v in farm.get("node", {}).values() for a in v]
    hosts = set(a.rsplit(":", 1)[0] if a.count(":") == 1 else a for a in addrs)
    hosts = set("127.0.0.1" if h.startswith("127.") or h == "localhost" else h for h in hosts)
    return addrs, hosts


def price_power(args, cpu, machines):
    """Price and power meta: declared figures (per device) first, else the known platform's,
    times the machines the run used; keys absent when neither says."""
    known = known_platform(cpu)
    out = {}
    notes = []
    price_src = None
    for key, arg, field, unit in (("platform_price", "device_price", "price_usd", "$"),
                                  ("platform_peak_power", "device_busy_power", "busy_w", "W busy"),
                                  ("platform_idle_power", "device_idle_power", "idle_w", "W idle")):
        v = getattr(args, arg, None)
        src = "declared (--%s)" % arg
        if v is None and known:
            v, src = known[field], known["source"]
        if v is None:
            continue
        out[key] = float(v) * machines
        notes.append("%s %g %s per device x %d (%s)" % (key, float(v), unit, machines, src))
        if key == "platform_price":
            price_src = "declared" if getattr(args, arg, None) is not None else "known"
    if price_src == "declared":
        out["platform_price_date"] = getattr(args, "price_date", None) or ""
    elif price_src == "known":
        out["platform_price_date"] = known["price_date"]
    out["platform_power_note"] = ("; ".join(notes) + "; parameters, not measurements") if notes else (
        "price and power unknown for %s: not a known platform (%s), none declared "
        "(--device_price, --device_busy_power, --device_idle_power)" % (
            plat_name(cpu), ", ".join(p["name"] for p in KNOWN_PLATFORMS)))
    return out


def request_meta(args, key, farm, target_path, cpu, root, timestamp):
    """The ReQuEST meta of the experiment entry (what module request.asplos18 prepared)."""
    species, design = MODELS[key["model"]]
    if farm:
        addrs, hosts = farm_hosts(farm)
        n = len(addrs)
        local = hosts == {"127.0.0.1"}
        farm_desc = ("one-machine farm: %d nodes on loopback (Avro over HTTP, mchair)" % n if local
                     else "farm: %d devices (Avro over HTTP, mchair)" % n)
        machines = len(hosts)
    else:
        n = 1
        farm_desc = ""
        machines = 1
    machines = getattr(args, "devices", 0) or machines
    known = known_platform(cpu)
    meta = {
        "algorithm_species": ALGORITHM_SPECIES,
        "artifact": REPORT_UID,
        "report_uid": REPORT_UID,
        "request_version": 1,
        "scenario_module_uoa": SCENARIO_MODULE,
        "repo_uoa": REPO_UOA,
        "repo_uid": REPO_UID,
        "repo_cmd": "ck add repo:mchair --path=PATH_TO_MCHAIR --quiet",
        "cpu_name": cpu["hardware"] or cpu["name"],
        "cpu_abi": cpu["abi"],
        "cpu_uid": "",
        "os_name": os_name(),
        "os_uid": "",
        "plat_name": plat_name(cpu),
        "plat_uid": "",
        "platform_species": "embedded" if known else "server",
        "farm": farm_desc,
        "farm_devices": n,
        "farm_machines": machines,
        "gpgpu_name": "",
        "gpgpu_vendor": "",
        "gpu_name": "",
        "opencl": "",
        "library_name": "mchair " + mchair_version(root),
        "model_design_name": design,
        "model_species": species,
        "model_precision": "fp32",
        "deps_summary": {},
        "processed": "yes",
        "host_os_uid": "",
        "target_os_uid": "",
        "target_device_id": "",
        "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "stimestamp": timestamp.strftime("%Y%m%d%H%M%S"),
        "timer_meaning": ("execution_time = execution_time_classify = inference_latency: wall-clock seconds per "
                          "inference over the run, as the artifact measured it (%s); inference_throughput = 1 / it; "
                          "mchair_latency_s: mean latency of one inference%s" % (
                              "time between the first and the last result at the initial node / (results - 1)"
                              if farm else "timed loop / inferences", " (end-to-end)" if farm else "")),
    }
    meta.update(price_power(args, cpu, machines))
    try:  # the machine's load when the run started (2-core CI machines are shared: timings are noisy)
        meta["host_load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if target_path:
        meta["target_path"] = target_path
    if key["device"] == "gpu":
        meta["gpu_name"] = "NVIDIA (CUDA backend of mchair)"
    return meta


def entry_meta(args, key, farm, target_path, root, os_uids=("", "")):
    """Meta, tags and platform features of an experiment entry of args.cmd_key (also used by
    scripts/emu/experiment.py for its emulated-farm runs)."""
    cpu = cpuinfo()
    now = datetime.datetime.now()
    meta = request_meta(args, key, farm, target_path, cpu, root, now)
    meta["host_os_uid"], meta["target_os_uid"] = os_uids
    tags = ["request", "request-asplos18", "mchair", meta["timestamp"], meta["stimestamp"],
            ALGORITHM_SPECIES, PROGRAM, args.cmd_key]
    features = {"platform": {"cpu": {"name": cpu["name"], "sub_name": cpu["sub_name"],
                                     "num_proc": str(cpu["num_proc"]), "cpu_abi": cpu["abi"],
                                     "cpu_features": cpu["features"]},
                             "os": {"name": meta["os_name"], "kernel": platform.release(),
                                    "bits": "64" if sys.maxsize > 2 ** 32 else "32"},
                             "name": meta["plat_name"]}}
    return meta, tags, features


def deps_summary(deps):
    """CK's summary of the resolved dependencies (name, version, tags, package) as the records
    carry it."""
    if not deps:
        return {}
    r = ck.access({"action": "deps_summary", "module_uoa": "env", "deps": deps})
    if r["return"] > 0:
        return {}
    return r["deps_summary"]


def add_derived(path, meta, key, repeat):
    """Add the scoreboard's characteristics to every *.flat.json point of the entry: latency
    and throughput (1 / latency, the artifact's IPS), and energy per inference (power x
    latency, the artifact's definition) where the meta has power figures."""
    busy = meta.get("platform_peak_power")
    idle = meta.get("platform_idle_power")
    done = 0
    for f in sorted(os.listdir(path)):
        if not f.endswith(".flat.json") or f.endswith(".features_flat.json"):
            continue
        p = os.path.join(path, f)
        r = ck.load_json_file({"json_file": p})
        if r["return"] > 0:
            return r
        d = r["dict"]
        lat = [x for x in d.get("##characteristics#run#execution_time_classify#all", []) if x]
        if not lat:
            continue
        derived = [("inference_latency", lat), ("prediction_time_avg_s", lat),
                   ("inference_throughput", [1.0 / t for t in lat])]
        if busy is not None:
            derived.append(("energy_per_inference_j", [float(busy) * t for t in lat]))
            if idle is not None:
                derived.append(("dynamic_energy_per_inference_j", [(float(busy) - float(idle)) * t for t in lat]))
        for name, vals in derived:
            for k in [k for k in d if k.startswith("##characteristics#run#" + name + "#")]:
                del d[k]
            r = ck.access({"action": "stat_analysis", "module_uoa": "experiment", "dict": d,
                           "dict1": {"##characteristics#run#" + name: vals}})
            if r["return"] > 0:
                return r
        d["##features#batch_size#min"] = 1
        d["##features#measuring_latency#min"] = "yes"
        d["##features#stat_repeat#min"] = repeat
        d["##features#processed#min"] = "yes"
        r = ck.save_json_to_file({"json_file": p, "dict": d, "sort_keys": "yes"})
        if r["return"] > 0:
            return r
        done += 1
    if done == 0:
        return fail("the run failed (see the program's messages above): no successful point in " + path)
    return {"return": 0, "points": done}


def host_target():
    """The machine entry of this host (access_type host), added if missing."""
    r = ck.access({"action": "search", "module_uoa": "machine", "add_meta": "yes"})
    if r["return"] > 0:
        return r
    for q in r["lst"]:
        if q.get("meta", {}).get("access_type", "") == "host":
            return {"return": 0, "target": q["data_uoa"]}
    r = ck.access({"action": "detect", "module_uoa": "platform.os", "out": ""})
    if r["return"] > 0:
        return r
    ck.out("Adding machine:host for runs on this machine (ck add machine:host --use_host) ...")
    r = ck.access({"action": "add", "module_uoa": "machine", "data_uoa": "host", "use_host": "yes",
                   "target_os": r["os_uoa"], "quiet": "yes", "out": ""})
    if r["return"] > 0:
        return r
    return {"return": 0, "target": "host"}


def do(args):
    key = parse_cmd_key(args.cmd_key)
    if key is None:
        return fail("unknown --cmd_key %s (benchmark-{alexnet,vgg16}-single-device-{cpu,gpu}, "
                    "benchmark-alexnet-farm-5-nodes, benchmark-vgg16-farm-{9,11}-nodes)" % args.cmd_key)
    target = args.target
    if key["farm_n"] and not target:
        return fail("farm cmd_key %s needs --target=MACHINE (ck add machine:farm-N --access_type=avro "
                    "--avro_config=FILE --target_os=linux-64)" % args.cmd_key)

    # The program entry (for the repository root) and the target machine.
    r = ck.access({"action": "load", "module_uoa": "program", "data_uoa": PROGRAM})
    if r["return"] > 0:
        return r
    root = os.path.dirname(os.path.dirname(r["path"]))
    farm, target_path = {}, ""
    if target:
        r = ck.access({"action": "load", "module_uoa": "machine", "data_uoa": target})
        if r["return"] > 0:
            return r
        target_path = r["path"]
        md = r["dict"]
        if "avro" in (md.get("access_type", ""), md.get("device_cfg", {}).get("access_type", "")):
            farm = load_farm(os.path.join(target_path, "ip"))
            if not farm:
                return fail("machine %s has no readable farm file ip in %s" % (target, target_path))

    if not target:
        # With machines registered, CK's pipeline asks which one to use; as the
        # artifact's README did (ck add machine:host --use_host), run on a host target.
        r = host_target()
        if r["return"] > 0:
            return r
        target = r["target"]

    # Host and target OS as CK sees them.
    ii = {"action": "detect", "module_uoa": "platform.os", "out": ""}
    if target:
        ii["target"] = target
    r = ck.access(ii)
    if r["return"] > 0:
        return r
    tos = r.get("os_uoa", "")
    tdid = r.get("device_id", "")
    os_uids = (r.get("host_os_uid", ""), r.get("os_uid", ""))

    # Prepare the program pipeline once.
    env = {"STAT_REPEAT": str(args.repeat)}
    ii = {"action": "pipeline", "prepare": "yes", "module_uoa": "program", "data_uoa": PROGRAM,
          "cmd_key": args.cmd_key, "target": target, "target_os": tos, "device_id": tdid,
          "env": env, "no_state_check": "yes", "no_compiler_description": "yes",
          "skip_calibration": "yes", "cpu_freq": "", "gpu_freq": "", "speed": "no", "energy": "no",
          "skip_print_timers": "yes", "out": "con"}
    if args.tmp_dir:
        ii["tmp_dir"] = args.tmp_dir
    r = ck.access(ii)
    if r["return"] > 0:
        return r
    if r.get("fail", "") == "yes":
        return fail("pipeline preparation failed (%s)" % r.get("fail_reason", ""))
    if r.get("ready", "") != "yes":
        return fail("pipeline not ready")
    for k in ("ready", "fail", "return"):
        r.pop(k, None)
    pipeline = copy.deepcopy(r)
    pipeline["cmd_key"] = args.cmd_key
    if args.tmp_dir:
        pipeline["tmp_dir"] = args.tmp_dir
        pipeline.setdefault("state", {})["tmp_dir"] = args.tmp_dir

    meta, tags, features = entry_meta(args, key, farm, target_path, root, os_uids)
    pipeline.setdefault("features", {}).update(features)
    meta["deps_summary"] = deps_summary(pipeline.get("dependencies", {}))
    if not meta["deps_summary"]:
        ck.out("warning: CK resolved no dependency for %s (run_deps of program:%s): deps_summary is empty"
               % (args.cmd_key, PROGRAM))

    record_uoa = args.record_uoa or (RECORD_PREFIX + args.cmd_key)
    ck.out("-" * 80)
    ck.out("CMD key    - " + args.cmd_key)
    ck.out("Target     - " + (target or "host"))
    ck.out("Experiment - %s:experiment:%s" % (args.record_repo, record_uoa))

    ii = {"action": "autotune", "module_uoa": "pipeline", "data_uoa": "program",
          "target": target, "iterations": 1, "repetitions": args.repetitions,
          "record": "yes", "record_failed": "no",
          "record_params": {"search_point_by_features": "yes"},
          "tags": tags, "meta": meta, "record_dict": {"subview_uoa": SUBVIEW_UOA}, "record_repo": args.record_repo,
          "record_uoa": record_uoa, "pipeline": pipeline, "out": "con"}
    if args.tmp_dir:
        ii["tmp_dir"] = args.tmp_dir
    r = ck.access(ii)
    if r["return"] > 0:
        return r
    failed = "the run failed (see the program's messages above); no experiment point was recorded"
    if r.get("fail", "") == "yes":
        return fail("%s (%s)" % (failed, r.get("fail_reason", "")))

    # The recorded entry: check every run succeeded, then add the scoreboard's keys.
    r = ck.access({"action": "load", "module_uoa": "experiment", "data_uoa": record_uoa,
                   "repo_uoa": args.record_repo})
    if r["return"] == 16:
        return fail(failed)
    if r["return"] > 0:
        return r
    epath = r["path"]
    r = add_derived(epath, meta, key, args.repeat)
    if r["return"] > 0:
        return r
    ck.out("")
    ck.out("Recorded %d point(s) in %s" % (r["points"], epath))
    return {"return": 0}


def env_repeat():
    v = os.environ.get("STAT_REPEAT", "").strip()
    return int(v) if v.isdigit() and int(v) > 0 else 10


def main():
    p = argparse.ArgumentParser(description="ReQuEST benchmarking of program:request-iot-benchmark (mchair)")
    p.add_argument("--cmd_key", default="benchmark-alexnet-single-device-cpu")
    p.add_argument("--target", default="", help="CK machine (a farm added with access_type avro)")
    p.add_argument("--repeat", type=int, default=env_repeat(),
                   help="inferences (frames) per run: STAT_REPEAT (default: $STAT_REPEAT, else 10)")
    p.add_argument("--repetitions", type=int, default=3, help="statistical repetitions of the run (CK)")
    p.add_argument("--record_uoa", default="", help="experiment entry (default %sCMD_KEY)" % RECORD_PREFIX)
    p.add_argument("--record_repo", default="local")
    p.add_argument("--tmp_dir", default="", help="where CK runs the program (default: the program's tmp/)")
    p.add_argument("--devices", type=int, default=0,
                   help="machines for price/power (default: distinct hosts of the farm file, or 1)")
    p.add_argument("--device_price", type=float, default=None,
                   help="USD per machine (default: a known platform's, else none; RPi 3: 40)")
    p.add_argument("--device_busy_power", type=float, default=None,
                   help="W per busy machine (default: a known platform's, else none; RPi 3: 6.5)")
    p.add_argument("--device_idle_power", type=float, default=None,
                   help="W per idle machine (default: a known platform's, else none; RPi 3: 1.3)")
    p.add_argument("--price_date", default="", help="YYYYMMDD of --device_price")
    args = p.parse_args()
    if args.repeat < 1 or args.repetitions < 1:
        ck.err(fail("--repeat and --repetitions must be >= 1"))
    r = do(args)
    if r["return"] > 0:
        ck.err(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
