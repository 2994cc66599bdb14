#!/usr/bin/env python3
"""ck_run.py - the run step of CK program:request-iot-benchmark.

CK calls `python3 ck_run.py CMD_KEY` in the program's tmp folder (see
.cm/meta.json), after resolving the program's run_deps (OpenBLAS, cJSON,
libcurl, libmicrohttpd, Avro C; CUDA and cuDNN for the GPU keys: the soft and
package entries of this repository) and sourcing their environment.  This script
  * finds the mchair binary: $MCHAIR_BIN, or a CMake build of this repository
    against what CK resolved (PKG_CONFIG_PATH and CMAKE_PREFIX_PATH from the
    CK_ENV_LIB_* variables; CUDAToolkit_ROOT/CUDNN_ROOT and MC_CUDA=ON for the
    GPU keys, MC_CUDA=OFF otherwise), one build folder per configuration,
    rebuilt when a source changes; then checks with ldd that mchair links the
    very files CK resolved (a record's deps_summary must be true);
  * single-device keys: runs `mchair predict` (CPU or GPU backend),
  * farm keys: runs `mchair initial` on the farm file $CK_TARGET_PATH/ip
    (set by CK from `--target=farm-N`, a machine added with access_type avro),
  * ...-start-server: starts, in the background, the task nodes of that farm
    whose address belongs to this machine (all of them on a one-machine farm
    on 127.0.0.1), writing pid files; ...-stop-server stops them.
Benchmark keys write tmp-ck-timer.json, which CK reads (fine_grain_timer_file),
from mchair's JSON report (tmp-ck-output.json), with the artifact's meaning:
execution_time and execution_time_classify are wall-clock seconds per inference
over the run, measured as the artifact's predict.py (loop time / inferences) and
initial.py (time between results at the initial node) measured them, so that
CK's "Execution time" and the records' inference_latency/inference_throughput
mean what the ReQuEST records mean.  Our own figures (mean latency, end-to-end
on a farm, throughput, per-task times) have keys of their own (timer_keys()).

Environment: STAT_REPEAT (inferences/frames, default 10), MCHAIR_BIN,
MCHAIR_BUILD_DIR, MCHAIR_RUN_DIR (pid and log files), MCHAIR_FARM (farm file
instead of $CK_TARGET_PATH/ip), MCHAIR_NODE_THREADS, MCHAIR_START_TIMEOUT,
MCHAIR_SEED, MCHAIR_KEY_FILE and MCHAIR_ENCRYPT (the farm key; else the farm
file's "key_file" and "encrypt", see key_args()).  Only the Python standard
library is used.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

TIMER = "tmp-ck-timer.json"
OUTPUT = "tmp-ck-output.json"
DEFAULT_REPEAT = 10
NODE_PORT = 12345  # the artifact's task-node port
INITIAL_PORT = 9999  # the artifact's initial-node port

# cmd_key -> (kind, model, device or farm size)
CMD_KEYS = {}
for _m in ("alexnet", "vgg16"):
    for _d in ("cpu", "gpu"):
        CMD_KEYS["benchmark-%s-single-device-%s" % (_m, _d)] = ("single", _m, _d)
for _m, _n in (("alexnet", 5), ("vgg16", 9), ("vgg16", 11)):
    _k = "benchmark-%s-farm-%d-nodes" % (_m, _n)
    CMD_KEYS[_k] = ("farm", _m, _n)
    CMD_KEYS[_k + "-start-server"] = ("start", _m, _n)
    CMD_KEYS[_k + "-stop-server"] = ("stop", _m, _n)

# What a build needs (Debian package names); CMake names the missing library
# itself, this list is for a missing compiler/CMake/pkg-config.
BUILD_DEBS = ("build-essential cmake pkg-config libopenblas-dev libopenblas-openmp-dev "
              "libcjson-dev libssl-dev libjpeg-dev libpng-dev "
              "libcurl4-openssl-dev libmicrohttpd-dev libavro-dev")

# The run_deps of .cm/meta.json as CK exports them: (env prefix, what mchair links).
CK_LIBS = (("CK_ENV_LIB_OPENBLAS", "OpenBLAS"), ("CK_ENV_LIB_CJSON", "cJSON"), ("CK_ENV_LIB_CURL", "libcurl"),
           ("CK_ENV_LIB_MICROHTTPD", "libmicrohttpd"), ("CK_ENV_LIB_AVRO", "Avro C"))


class Fail(Exception):
    """An error for the user: printed as 'ck_run: MESSAGE', exit status 1."""


def say(msg):
    sys.stdout.write("ck_run: %s\n" % msg)
    sys.stdout.flush()


def repo_root():
    # program/request-iot-benchmark/ck_run.py -> repository root
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def cache_home():
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def ck_deps(gpu):
    """What CK resolved for this run, from the environment its deps' env.sh scripts set:
    [(prefix, name, {"root", "lib", "include", "file", "pc"})]; [] when run outside CK."""
    out = []
    wanted = list(CK_LIBS) + ([("CK_ENV_COMPILER_CUDA", "CUDA toolkit"), ("CK_ENV_LIB_CUDNN", "cuDNN")] if gpu else [])
    for ep, name in wanted:
        if not os.environ.get(ep):
            continue
        out.append((ep, name, {"root": os.environ[ep], "lib": os.environ.get(ep + "_LIB", ""),
                               "include": os.environ.get(ep + "_INCLUDE", ""), "file": os.environ.get(ep + "_FILE", ""),
                               "pc": os.environ.get(ep + "_PKG_CONFIG_PATH", ""),
                               "dyn": os.environ.get(ep + "_DYNAMIC_NAME", "")}))
    return out


def build_config(gpu):
    """(CMake arguments, environment, deps) of a build against what CK resolved."""
    deps = ck_deps(gpu)
    args = ["-DCMAKE_BUILD_TYPE=Release", "-DMC_TESTS=OFF"]
    env = dict(os.environ)
    if not deps:
        say("no CK dependencies in the environment (not run by `ck run`?): building against the system's "
            "libraries, CUDA if CMake finds it")
        return args, env, deps
    have = {ep for ep, _n, _d in deps}
    missing = [n for ep, n in CK_LIBS if ep not in have]
    if missing:
        raise Fail("CK resolved no %s (run_deps of program:request-iot-benchmark): is this an old CK "
                   "environment? `ck detect soft --tags=...` or `ck install package --tags=...` registers it"
                   % ", ".join(missing))
    pcs = []
    for x in [d["pc"] for _ep, _n, d in deps] + env.get("PKG_CONFIG_PATH", "").split(":"):
        if x and x not in pcs:
            pcs.append(x)
    env["PKG_CONFIG_PATH"] = ":".join(pcs)
    roots = []
    for _ep, _n, d in deps:
        if d["root"] not in roots:
            roots.append(d["root"])
    args.append("-DCMAKE_PREFIX_PATH=" + ";".join(roots))
    if gpu:
        if "CK_ENV_COMPILER_CUDA" not in have or "CK_ENV_LIB_CUDNN" not in have:
            raise Fail("the GPU keys need CK's CUDA toolkit and cuDNN (run_deps compiler-cuda, lib-cudnn)")
        args += ["-DMC_CUDA=ON", "-DCUDAToolkit_ROOT=" + os.environ["CK_ENV_COMPILER_CUDA"],
                 "-DCUDNN_ROOT=" + os.environ["CK_ENV_LIB_CUDNN"]]
    else:
        args.append("-DMC_CUDA=OFF")  # CK resolved no CUDA for a CPU key
    return args, env, deps


def default_build_dir(root, args, env):
    """One build folder per repository and configuration (CPU and GPU keys build apart)."""
    key = "\n".join([root] + args + [env.get("PKG_CONFIG_PATH", "")])
    return os.path.join(cache_home(), "mchair", "build-" + hashlib.sha1(key.encode()).hexdigest()[:12])


def newest_source_mtime(root):
    newest = os.path.getmtime(os.path.join(root, "CMakeLists.txt"))
    for sub in ("src", "cmake"):
        for dirpath, _dirs, files in os.walk(os.path.join(root, sub)):
            for f in files:
                if f.endswith((".c", ".h", ".cu", ".cmake", ".txt")):
                    newest = max(newest, os.path.getmtime(os.path.join(dirpath, f)))
    return newest


def build(root, bdir, args, env):
    missing = [t for t in ("cmake", "cc", "pkg-config") if shutil.which(t) is None]
    if missing:
        raise Fail("cannot build mchair: %s not found; install the Debian packages: "
                   "sudo apt-get install %s" % (", ".join(missing), BUILD_DEBS))
    say("building mchair with CMake into %s (first run, or the sources changed): cmake %s%s"
        % (bdir, " ".join(args), "; PKG_CONFIG_PATH=" + env["PKG_CONFIG_PATH"] if env.get("PKG_CONFIG_PATH") else ""))
    os.makedirs(bdir, exist_ok=True)
    cmd = ["bash", os.path.join(root, "scripts", "build.sh"), bdir] + args
    # build.sh shows CMake's errors (a missing library names its Debian package).
    if subprocess.call(cmd, stdin=subprocess.DEVNULL, env=env) != 0:
        raise Fail("building mchair failed (see CMake's message above; "
                   "scripts/install-deps.sh installs every Debian package needed, or: "
                   "sudo apt-get install %s)" % BUILD_DEBS)


def linked_files(path):
    """{soname: real path} of what the dynamic loader gives path (ldd)."""
    try:
        out = subprocess.run(["ldd", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, stdin=subprocess.DEVNULL).stdout
    except OSError:
        return {}
    res = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            res[m.group(1)] = os.path.realpath(m.group(2))
    return res


def check_links(exe, deps, gpu):
    """mchair (and, for the GPU keys, its CUDA plugin) must load the files CK resolved."""
    if not deps:
        return
    files = linked_files(exe)
    plugin = os.path.join(os.path.dirname(exe), "libmchair_cuda.so")
    if gpu and os.path.isfile(plugin):
        files.update(linked_files(plugin))
    bad = []
    for ep, name, d in deps:
        if ep == "CK_ENV_COMPILER_CUDA":
            root = os.path.realpath(d["root"])
            cudart = [p for so, p in files.items() if so.startswith("libcudart.so")]
            if cudart and not all(p.startswith(root + os.sep) for p in cudart):
                bad.append("%s: CK resolved %s, mchair loads %s" % (name, d["root"], ", ".join(cudart)))
            continue
        if not d["file"] or d["file"].endswith(".a"):
            continue
        # the library of that name mchair loads (libcjson.so.1 for libcjson.so) must be CK's file
        stem = (d["dyn"] or os.path.basename(d["file"])).split(".so")[0] + ".so"
        loaded = sorted(set(p for so, p in files.items() if so.startswith(stem)))
        if loaded != [os.path.realpath(d["file"])]:
            bad.append("%s: CK resolved %s, mchair loads %s" % (name, d["file"], ", ".join(loaded) or "no " + stem))
    if bad:
        raise Fail("%s does not use what CK resolved (a record would name the wrong libraries):\n  %s\n"
                   "(unset MCHAIR_BIN to build against CK's environment, or register the libraries mchair uses: "
                   "ck detect soft:... --full_path=FILE)" % (exe, "\n  ".join(bad)))


def find_mchair(gpu=False):
    args, env, deps = build_config(gpu)
    b = os.environ.get("MCHAIR_BIN", "")
    if b:
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            raise Fail("MCHAIR_BIN=%s is not an executable file" % b)
        exe = os.path.abspath(b)
    else:
        root = repo_root()
        bdir = os.environ.get("MCHAIR_BUILD_DIR") or default_build_dir(root, args, env)
        exe = os.path.join(bdir, "mchair")
        if not os.path.isfile(exe) or os.path.getmtime(exe) < newest_source_mtime(root):
            build(root, bdir, args, env)
        if not os.path.isfile(exe):
            raise Fail("the build did not produce %s" % exe)
    check_links(exe, deps, gpu)
    return exe


def stat_repeat():
    v = os.environ.get("STAT_REPEAT", "").strip()
    if not v:
        return DEFAULT_REPEAT
    if not v.isdigit() or int(v) < 1:
        raise Fail("STAT_REPEAT must be a positive integer (got %r)" % v)
    return int(v)


def run(cmd):
    say("running: " + " ".join(cmd))
    sys.stdout.flush()
    return subprocess.call(cmd, stdin=subprocess.DEVNULL)


def remove_stale_outputs():
    # CK reuses its tmp folder: never let it read the timer of an earlier run.
    for f in (TIMER, OUTPUT):
        if os.path.exists(f):
            os.remove(f)


# ---------------------------------------------------------------- farm files

def farm_file():
    f = os.environ.get("MCHAIR_FARM", "")
    if not f:
        t = os.environ.get("CK_TARGET_PATH", "")
        if not t:
            root = repo_root()
            raise Fail("no farm given: register one and pass --target, e.g.\n"
                       "  ck add machine:farm-5 --access_type=avro --avro_config=%s "
                       "--target_os=linux-64\n"
                       "  ck run program:request-iot-benchmark --cmd_key=... --target=farm-5\n"
                       "(or set MCHAIR_FARM=FILE)"
                       % os.path.join(root, "machine", "farm-5-local.json"))
        f = os.path.join(t, "ip")
    if not os.path.isfile(f):
        raise Fail("farm file %s not found (was the machine added with --access_type=avro "
                   "--avro_config=FILE?)" % f)
    return os.path.abspath(f)


def load_farm(path):
    with open(path) as fh:
        text = fh.read()
    # The artifact's own ip files have trailing commas; accept them here too.
    text = re.sub(r",\s*([\]}])", r"\1", text)
    try:
        d = json.loads(text)
    except ValueError as e:
        raise Fail("farm file %s: not JSON (%s)" % (path, e))
    node = d.get("node") if isinstance(d, dict) else None
    if not isinstance(node, dict) or not node:
        raise Fail("farm file %s: no \"node\" object ({\"node\": {\"task\": [\"ip\", ...]}})" % path)
    for task, addrs in node.items():
        if not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
            raise Fail("farm file %s: node.%s must be a list of \"ip\" or \"ip:port\" strings"
                       % (path, task))
    if "initial" not in node:
        raise Fail("farm file %s: node.initial (the source/sink address) is missing" % path)
    return d


def split_addr(a, default_port):
    a = a.strip()
    if a.count(":") == 1:
        h, p = a.split(":")
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise Fail("bad port in address %r" % a)
        return h, int(p)
    return a, default_port


def is_local(host):
    """True if this machine owns the IPv4 address (binding to it works)."""
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        return False
    if ip.startswith("127."):
        return True
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((ip, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def key_args(farm, path):
    """--key-file (and --encrypt) for every mchair process of a keyed farm.

    A machine entry names its farm's key in its avro_config (the farm file):
    "key_file": PATH (absolute, ~/..., or relative to the farm file's folder;
    the file must be its owner's only, which mchair checks) and optionally
    "encrypt": true.  MCHAIR_KEY_FILE and MCHAIR_ENCRYPT=1 override them.  No
    key: the farm is open (mchair says so), as the artifact's was."""
    k = os.environ.get("MCHAIR_KEY_FILE", "") or farm.get("key_file", "")
    if not k:
        return []
    if not isinstance(k, str):
        raise Fail("farm file %s: key_file must be a path (a string)" % path)
    k = os.path.expanduser(k)
    if not os.path.isabs(k):
        k = os.path.join(os.path.dirname(path), k)
    if not os.path.isfile(k):
        raise Fail("farm file %s names the key file %s, which does not exist" % (path, k))
    enc = os.environ.get("MCHAIR_ENCRYPT", "").lower() in ("1", "yes", "true") or farm.get("encrypt") is True
    return ["--key-file", k] + (["--encrypt"] if enc else [])


def farm_size(farm):
    return sum(len(v) for v in farm["node"].values())


def run_dir(farm_path):
    base = os.environ.get("MCHAIR_RUN_DIR", "")
    if not base:
        base = os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp",
                            "mchair-%d" % os.getuid())
    d = os.path.join(base, hashlib.sha1(farm_path.encode()).hexdigest()[:12])
    os.makedirs(d, exist_ok=True)
    return d


def pid_alive_node(pid):
    """True if pid is a running `mchair node` process (not a reused pid)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return False
    # argv[0] is mchair, or an interpreter running a script named mchair*.
    for i in (0, 1):
        if len(argv) > i + 1 and os.path.basename(argv[i]).startswith(b"mchair") and argv[i + 1] == b"node":
            return True
    return False


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def check_size(farm, n, path):
    have = farm_size(farm)
    if have != n:
        say("warning: %s lists %d devices (initial included), this cmd_key is for %d"
            % (path, have, n))


def local_nodes(farm):
    """(task, host, port) of every task node whose address is this machine's."""
    out = []
    for task, addrs in farm["node"].items():
        if task == "initial":
            continue
        for a in addrs:
            h, p = split_addr(a, NODE_PORT)
            if is_local(h):
                out.append((task, h, p))
    return out


def pid_path(rdir, task, host, port):
    return os.path.join(rdir, "node-%s-%s-%d.pid" % (task, host, port))


def stop_pids(pids, timeout=10.0):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    end = time.time() + timeout
    while time.time() < end and any(pid_alive_node(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if pid_alive_node(pid):
            say("node pid %d ignored SIGTERM for %.0f s: SIGKILL" % (pid, timeout))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def start_servers(model, n):
    path = farm_file()
    farm = load_farm(path)
    check_size(farm, n, path)
    mine = local_nodes(farm)
    if not mine:
        init = [split_addr(a, INITIAL_PORT)[0] for a in farm["node"]["initial"]]
        if any(is_local(h) for h in init):
            say("this machine is the farm's initial node: it runs no task node "
                "(start the servers on the other devices, then run the benchmark cmd_key here)")
            return 0
        raise Fail("none of the addresses in %s belongs to this machine; run this cmd_key "
                   "on each device of the farm" % path)
    exe = find_mchair()
    rdir = run_dir(path)
    ncpu = os.cpu_count() or 1
    threads = os.environ.get("MCHAIR_NODE_THREADS", "")
    if not threads and len(mine) > 1:
        threads = str(max(1, ncpu // len(mine)))  # several nodes share this machine's cores
    seed = os.environ.get("MCHAIR_SEED", "")
    timeout = float(os.environ.get("MCHAIR_START_TIMEOUT", "120"))
    keys = key_args(farm, path)
    started = []
    try:
        for task, host, port in mine:
            pf = pid_path(rdir, task, host, port)
            if os.path.exists(pf):
                try:
                    old = int(open(pf).read().strip() or 0)
                except ValueError:
                    old = 0
                if old and pid_alive_node(old):
                    say("%s on %s:%d already running (pid %d)" % (task, host, port, old))
                    continue
                os.remove(pf)
            if port_open(host, port):
                raise Fail("%s:%d (task %s) is already in use by another program" % (host, port, task))
            log = os.path.join(rdir, "node-%s-%s-%d.log" % (task, host, port))
            cmd = [exe, "node", "--farm", path, "--model", model, "--task", task,
                   "--listen", "%s:%d" % (host, port)]
            if threads:
                cmd += ["--threads", threads]
            if seed:
                cmd += ["--seed", seed]
            cmd += keys
            with open(log, "ab") as lf:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                     start_new_session=True, close_fds=True)
            with open(pf, "w") as fh:
                fh.write("%d\n" % p.pid)
            started.append((task, host, port, p, pf, log))
            say("started %s on %s:%d (pid %d, log %s)" % (task, host, port, p.pid, log))
        # Wait until every node accepts connections (weights take a while).
        end = time.time() + timeout
        waiting = list(started)
        while waiting:
            for s in list(waiting):
                task, host, port, p, pf, log = s
                if p.poll() is not None:
                    tail = open(log, errors="replace").read()[-2000:]
                    raise Fail("node %s on %s:%d exited with status %d:\n%s"
                               % (task, host, port, p.returncode, tail))
                if port_open(host, port):
                    waiting.remove(s)
            if waiting and time.time() > end:
                raise Fail("nodes not listening after %.0f s: %s (MCHAIR_START_TIMEOUT raises it)"
                           % (timeout, ", ".join("%s@%s:%d" % (s[0], s[1], s[2]) for s in waiting)))
            if waiting:
                time.sleep(0.2)
    except BaseException:
        # Leave nothing half-started behind.
        stop_pids([s[3].pid for s in started], timeout=5.0)
        for s in started:
            if os.path.exists(s[4]):
                os.remove(s[4])
        raise
    say("%d node(s) of %s on this machine listening (%d started now); pid files in %s; "
        "stop them with the -stop-server cmd_key" % (len(mine), path, len(started), rdir))
    return 0


def stop_servers(model, n):
    path = farm_file()
    rdir = run_dir(path)
    pfs = [os.path.join(rdir, f) for f in sorted(os.listdir(rdir)) if f.endswith(".pid")]
    pids = []
    for pf in pfs:
        try:
            pid = int(open(pf).read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and pid_alive_node(pid):
            pids.append(pid)
            say("stopping %s (pid %d)" % (os.path.basename(pf)[5:-4], pid))
    stop_pids(pids)
    for pf in pfs:
        os.remove(pf)
    if not pfs:
        say("no node of %s was started from here (no pid files in %s)" % (path, rdir))
    return 0


def report_number(rep, key, path):
    v = rep.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise Fail("%s: key %r missing or not a number (mchair's JSON report changed?)" % (path, key))
    return float(v)


def timer_keys(rep, kind, path):
    """The CK timer of a run from mchair's JSON report, with the artifact's meaning.

    execution_time = execution_time_classify: wall-clock seconds per inference over the run,
    measured as the artifact measured it (these are the numbers in the ReQuEST records):
      single device: the timed loop's time / inferences, as predict.py did (after a warm-up),
        = 1 / mchair predict's throughput_ips;
      farm: (last result - first result) / (results - 1) at the initial node, as initial.py
        did: the time between results of the stream, not one frame's end-to-end latency (the
        records' VGG16 farm-11 figure, 0.41 s, is below a single Pi's time for its conv block,
        which every frame crosses).
    The ReQuEST records' inference_latency and inference_throughput (= 1 / it) derive from it.
    Our own figures have keys of their own: mchair_latency_s (mean latency of one inference;
    farm: end-to-end, initial to initial), mchair_median_s (single device),
    mchair_throughput_ips (mchair's: results / time from the first send to the last result),
    mchair_frames_done / _lost / _dropped and mchair_task_<task>_mean_s (farm)."""
    mean = report_number(rep, "mean_s", path)
    thr = report_number(rep, "throughput_ips", path)
    if mean <= 0 or thr <= 0:
        raise Fail("%s: mean_s %r, throughput_ips %r: no inference completed" % (path, mean, thr))
    t = {"mchair_latency_s": mean, "mchair_throughput_ips": thr}
    if kind == "single":
        per = 1.0 / thr
        t["mchair_median_s"] = report_number(rep, "median_s", path)
    else:
        recv = rep.get("recv_s")
        if not isinstance(recv, list):
            raise Fail("%s: key 'recv_s' (arrival time of each result) missing (mchair's JSON report changed?)" % path)
        arr = sorted(float(x) for x in recv if isinstance(x, (int, float)) and not isinstance(x, bool))
        per = (arr[-1] - arr[0]) / (len(arr) - 1) if len(arr) >= 2 else mean  # one result: no interval
        t["mchair_frames_done"] = int(report_number(rep, "done", path))
        t["mchair_frames_lost"] = len(rep.get("lost") or [])
        t["mchair_frames_dropped"] = len(rep.get("dropped") or [])
        for task, v in sorted((rep.get("task_mean_s") or {}).items()):
            if isinstance(v, (int, float)):
                t["mchair_task_%s_mean_s" % task] = float(v)
    t["execution_time"] = t["execution_time_classify"] = per
    return t


def run_and_time(cmd, kind):
    """Runs mchair with --json OUTPUT, then writes the CK timer from the report."""
    remove_stale_outputs()
    rc = run(cmd + ["--json", OUTPUT])
    if rc != 0:
        return rc
    try:
        with open(OUTPUT) as fh:
            rep = json.load(fh)
    except (OSError, ValueError) as e:
        raise Fail("mchair wrote no readable JSON report %s (%s)" % (OUTPUT, e))
    t = timer_keys(rep, kind, OUTPUT)
    with open(TIMER, "w") as fh:
        json.dump(t, fh, indent=2, sort_keys=True)
    say("timer: execution_time %.6f s per inference (%s); mean %slatency %.6f s"
        % (t["execution_time"], "time between results" if kind == "farm" else "loop time / inferences",
           "end-to-end " if kind == "farm" else "", t["mchair_latency_s"]))
    return 0


def run_farm(model, n):
    path = farm_file()
    farm = load_farm(path)
    check_size(farm, n, path)
    exe = find_mchair()
    cmd = [exe, "initial", "--farm", path, "--model", model, "--repeat", str(stat_repeat())]
    if os.environ.get("MCHAIR_SEED"):
        cmd += ["--seed", os.environ["MCHAIR_SEED"]]
    return run_and_time(cmd + key_args(farm, path), "farm")


def run_single(model, device):
    exe = find_mchair(gpu=device == "gpu")
    cmd = [exe, "predict", "--model", model, "--device", device, "--repeat", str(stat_repeat())]
    if os.environ.get("MCHAIR_SEED"):
        cmd += ["--seed", os.environ["MCHAIR_SEED"]]
    rc = run_and_time(cmd, "single")
    if rc != 0 and device == "gpu":
        say("the GPU benchmark needs the CUDA build of mchair and an NVIDIA GPU; no timing recorded")
    return rc


def main(argv):
    if len(argv) != 2 or argv[1] not in CMD_KEYS:
        sys.stderr.write("usage: ck_run.py CMD_KEY\ncmd_keys:\n  " + "\n  ".join(sorted(CMD_KEYS)) + "\n")
        return 2
    kind, model, arg = CMD_KEYS[argv[1]]
    try:
        if kind == "single":
            return run_single(model, arg)
        if kind == "farm":
            return run_farm(model, arg)
        if kind == "start":
            return start_servers(model, arg)
        return stop_servers(model, arg)
    except Fail as e:
        sys.stderr.write("ck_run: error: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
