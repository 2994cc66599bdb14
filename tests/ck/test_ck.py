#!/usr/bin/env python3
"""test_ck.py - the CK workflow of the repository, with the real CK kernel.

    test_ck.py --repo REPO_ROOT --mchair PATH/TO/mchair [-v]

In a temporary CK_REPOS it registers ck-env (data-only copy, ../shared/ck-env,
or --ck-env DIR) and this repository, then runs non-interactively:
  * both single-device CPU cmd_keys (STAT_REPEAT=2) and the GPU one (which must
    either work, when this mchair has a usable GPU backend, or fail clearly);
  * `ck add machine` of the shipped farm files and of a one-machine farm-5 on
    free loopback ports, its start-server, the farm benchmark, benchmarking.py
    on the farm, its stop-server;
  * benchmarking.py for benchmark-alexnet-single-device-cpu;
  * `ck zip local:experiment:*`;
and checks the timers, the experiment entries (ReQuEST keys), the zip, and
that no node process is left running (any left is killed, and the test fails).
The CK kernel must be importable by this Python (`pip install ck`; if it is
not, the test installs it with pip and fails if that does not work).
"""
import argparse
import glob
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

ARGS = None
PROGRAM = "program:request-iot-benchmark"
# run characteristics of the original ReQuEST IoT-farm records (accuracy aside:
# random weights, not measured)
REQUEST_RUN_KEYS = ("execution_time", "execution_time_classify", "execution_time_with_module",
                    "inference_latency", "inference_throughput", "prediction_time_avg_s",
                    "repeat", "return_code", "total_execution_time")
STAT_SUFFIXES = ("all", "mean", "min", "max", "center", "halfrange", "range", "repeats")
# plausible seconds per inference here (fail outside): far above a real run's
# noise floor, far below a hang
PLAUSIBLE = {"alexnet": (1e-3, 30.0), "vgg16": (1e-2, 120.0)}


def ensure_ck():
    try:
        importlib.import_module("ck.kernel")
        return
    except ImportError:
        pass
    print("test_ck: CK kernel not importable; installing it: pip install 'ck>=2.6,<3'")
    rc = subprocess.call([sys.executable, "-m", "pip", "install", "-q", "ck>=2.6,<3"])
    if rc != 0:
        raise SystemExit("test_ck: FAIL: cannot install the CK kernel with pip (rc %d)" % rc)


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def proc_cmdlines():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as fh:
                    out[int(d)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    return out


class CKWorkflow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = os.path.abspath(ARGS.repo)
        cls.mchair = os.path.abspath(ARGS.mchair)
        cls.tmp = tempfile.mkdtemp(prefix="mchair-ck-test-")
        cls.run_dir = os.path.join(cls.tmp, "run")
        env = dict(os.environ)
        env.update({
            "CK_REPOS": os.path.join(cls.tmp, "repos"),
            "MCHAIR_BIN": cls.mchair,
            "MCHAIR_RUN_DIR": cls.run_dir,
            "XDG_CACHE_HOME": os.path.join(cls.tmp, "cache"),
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2"),
            "MCHAIR_START_TIMEOUT": "180",
        })
        env.pop("CK_TARGET_PATH", None)
        env.pop("STAT_REPEAT", None)
        cls.env = env
        # CK runs the program here (--tmp_dir), not in the source tree's program/.../tmp
        cls.prog_tmp = os.path.join(cls.tmp, "program-tmp")
        ck_env = (ARGS.ck_env or os.environ.get("MCHAIR_CK_ENV")
                  or os.path.join(os.path.dirname(cls.root), "shared", "ck-env"))
        if not os.path.isdir(os.path.join(ck_env, "os")):
            raise AssertionError("ck-env with os entries not found at %s (pass --ck-env DIR)" % ck_env)
        # ck-env depends on ck-web: a local placeholder resolves it offline
        # (with a network, `ck pull repo:ck-env` fetches both).
        cls.ck_ok("add", "repo:ck-web", "--quiet")
        cls.ck_ok("add", "repo:ck-env", "--path=" + ck_env, "--quiet")
        cls.ck_ok("add", "repo:mchair", "--path=" + cls.root, "--quiet")

    @classmethod
    def tearDownClass(cls):
        cls.kill_nodes()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    @classmethod
    def ck(cls, *args, timeout=900, cwd=None):
        cmd = [sys.executable, "-c", "import sys, ck.kernel as k; sys.exit(k.cli())"] + list(args)
        return cls.run_group(cmd, timeout, cwd or cls.tmp)

    @classmethod
    def run_group(cls, cmd, timeout, cwd):
        """Run cmd in its own process group; on timeout kill the whole group
        (CK's shell, ck_run.py and mchair), then fail."""
        p = subprocess.Popen(cmd, env=cls.env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            raise AssertionError("timed out after %d s: %s\n%s" % (timeout, " ".join(cmd), out[-3000:]))
        if ARGS.verbose:
            sys.stdout.write(out)
        return p.returncode, out

    @classmethod
    def ck_ok(cls, *args, **kw):
        rc, out = cls.ck(*args, **kw)
        if rc != 0:
            raise AssertionError("ck %s failed (rc %d):\n%s" % (" ".join(args), rc, out[-4000:]))
        return out

    def ck_run(self, cmd_key, *extra):
        rc, out = self.ck("run", PROGRAM, "--cmd_key=" + cmd_key, "--treat_return_code_as_exit_code=yes",
                          "--tmp_dir=" + self.prog_tmp, *extra)
        if rc != 0:
            # put our script's own lines (errors included) where a failure message shows them
            mine = [x for x in out.splitlines() if x.startswith(("ck_run", "mchair"))]
            out = out + "\n--- ck_run/mchair lines ---\n" + "\n".join(mine[-40:]) + "\n"
        return rc, out

    def timer(self):
        path = os.path.join(self.prog_tmp, "tmp-ck-timer.json")
        self.assertTrue(os.path.isfile(path), "no timer file " + path)
        with open(path) as fh:
            return json.load(fh)

    def check_timer(self, model, out):
        t = self.timer()
        lo, hi = PLAUSIBLE[model]
        for k in ("execution_time", "execution_time_classify"):
            self.assertIn(k, t)
            self.assertTrue(lo < t[k] < hi, "%s = %r s is not plausible for %s" % (k, t[k], model))
        # CK read the timer file: it prints the execution time it recorded.
        self.assertIn("reading fine grain timers from tmp-ck-timer.json", out)
        line = [x for x in out.splitlines() if x.startswith("Execution time:")]
        self.assertTrue(line, "CK printed no execution time")
        self.assertAlmostEqual(float(line[-1].split()[2]), t["execution_time"], delta=0.0015)
        return t

    @classmethod
    def node_pids(cls):
        """Processes started from this test's run folder or farm files."""
        return [pid for pid, c in proc_cmdlines().items()
                if " node " in c and cls.tmp in c and pid != os.getpid()]

    @classmethod
    def kill_nodes(cls):
        pids = cls.node_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return pids

    def experiment(self, uoa):
        path = os.path.join(self.env["CK_REPOS"], "local", "experiment", uoa)
        self.assertTrue(os.path.isdir(path), "no experiment entry " + path)
        with open(os.path.join(path, ".cm", "meta.json")) as fh:
            meta = json.load(fh)
        flats = [f for f in glob.glob(os.path.join(path, "ckp-*.flat.json"))
                 if not f.endswith(".features_flat.json")]
        self.assertEqual(len(flats), 1, "expected one point in " + path)
        with open(flats[0]) as fh:
            flat = json.load(fh)
        for f in ("pipeline.json", "desc.json"):
            self.assertTrue(os.path.isfile(os.path.join(path, f)), f + " missing in " + path)
        base = flats[0][:-len(".flat.json")]
        for suffix in (".features.json", ".features_flat.json", ".0001.json"):
            self.assertTrue(os.path.isfile(base + suffix), base + suffix + " missing")
        return path, meta, flat

    def check_record(self, uoa, cmd_key, model, devices, repetitions):
        path, meta, flat = self.experiment(uoa)
        m = meta["meta"]
        self.assertEqual(meta["pipeline_uoa"], "program")
        self.assertIn("request-asplos18", meta["tags"])
        self.assertIn(cmd_key, meta["tags"])
        species = {"alexnet": "c0ad9b9800422f98", "vgg16": "a3fcac86d42bdbc4"}[model]
        self.assertEqual(m["model_species"], species)
        self.assertEqual(m["model_precision"], "fp32")
        self.assertTrue(m["library_name"].startswith("mchair "), m["library_name"])
        self.assertTrue(m["cpu_name"] and m["os_name"] and m["plat_name"], "platform meta empty")
        self.assertEqual(m["farm_devices"], devices)
        self.assertAlmostEqual(m["platform_price"], 40.0 * devices)
        self.assertAlmostEqual(m["platform_peak_power"], 6.5 * devices)
        self.assertAlmostEqual(m["platform_idle_power"], 1.3 * devices)
        if devices > 1:
            self.assertIn("%d nodes" % devices, m["farm"])
        for k in ("algorithm_species", "report_uid", "repo_uoa", "scenario_module_uoa", "timestamp"):
            self.assertTrue(m.get(k), "meta %s missing" % k)
        for key in REQUEST_RUN_KEYS:
            for s in STAT_SUFFIXES:
                self.assertIn("##characteristics#run#%s#%s" % (key, s), flat)
        self.assertEqual(flat["##characteristics#run#run_success#all"], ["yes"] * repetitions)
        lat = flat["##characteristics#run#execution_time#all"]
        self.assertEqual(len(lat), repetitions)
        lo, hi = PLAUSIBLE[model]
        self.assertTrue(all(lo < x < hi for x in lat), "implausible latencies %r" % lat)
        mean = flat["##characteristics#run#execution_time#mean"]
        self.assertAlmostEqual(mean, sum(lat) / len(lat), places=9)
        self.assertAlmostEqual(flat["##characteristics#run#inference_latency#mean"],
                               flat["##characteristics#run#execution_time_classify#mean"], places=12)
        thr = flat["##characteristics#run#inference_throughput#all"]
        cls_all = flat["##characteristics#run#execution_time_classify#all"]
        for a, b in zip(thr, cls_all):
            self.assertAlmostEqual(a * b, 1.0, places=9)
        e = flat["##characteristics#run#energy_per_inference_j#all"]
        for a, b in zip(e, cls_all):
            self.assertAlmostEqual(a, 6.5 * devices * b, places=9)
        with open(glob.glob(os.path.join(path, "ckp-*.features_flat.json"))[0]) as fh:
            ff = json.load(fh)
        self.assertEqual(ff["##choices#cmd_key"], cmd_key)
        return path

    # ------------------------------------------------------------ tests
    def test_1_single_device_cpu_keys_write_plausible_timers_that_ck_reads(self):
        for model in ("alexnet", "vgg16"):
            key = "benchmark-%s-single-device-cpu" % model
            rc, out = self.ck_run(key, "--env.STAT_REPEAT=2")
            self.assertEqual(rc, 0, out[-4000:])
            self.check_timer(model, out)
            with open(os.path.join(self.prog_tmp, "tmp-ck-output.json")) as fh:
                rep = json.load(fh)
            self.assertEqual(rep["repeat"], 2, "STAT_REPEAT not honoured")
            self.assertEqual(len(rep["latency_s"]), 2)
            self.assertEqual(rep["model"], model)

    def test_2_gpu_key_runs_on_a_gpu_build_or_fails_clearly_without_a_timer(self):
        probe = subprocess.run([self.mchair, "predict", "--model", "alexnet", "--device", "gpu",
                                "--repeat", "1", "--quiet"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                               universal_newlines=True, timeout=600)
        rc, out = self.ck_run("benchmark-alexnet-single-device-gpu", "--env.STAT_REPEAT=2")
        if probe.returncode == 0:
            self.assertEqual(rc, 0, out[-4000:])
            self.check_timer("alexnet", out)
        else:
            self.assertNotEqual(rc, 0, "GPU key succeeded without a GPU backend:\n" + out[-3000:])
            self.assertIn("the GPU benchmark needs the CUDA build of mchair", out)
            self.assertFalse(os.path.exists(os.path.join(self.prog_tmp, "tmp-ck-timer.json")),
                             "a timer file was left for CK to read")
            # and benchmarking.py records nothing for it
            uoa = "mchair-test-gpu-without-gpu"
            rc, out = self.run_group([sys.executable, self.bench_script(),
                                      "--cmd_key=benchmark-alexnet-single-device-gpu", "--repeat=1",
                                      "--repetitions=1", "--record_uoa=" + uoa, "--tmp_dir=" + self.prog_tmp],
                                     900, self.tmp)
            self.assertNotEqual(rc, 0, out[-3000:])
            self.assertIn("no experiment point was recorded", out)
            self.assertFalse(os.path.exists(os.path.join(self.env["CK_REPOS"], "local", "experiment", uoa)))

    def test_3_shipped_farm_files_register_as_avro_machines(self):
        mdir = os.path.join(self.root, "machine")
        for n in (5, 9, 11):
            with open(os.path.join(mdir, "farm-%d.json" % n)) as fh:
                real = json.load(fh)["node"]
            addrs = [a for v in real.values() for a in v]
            self.assertEqual(len(addrs), n)
            self.assertEqual(len(set(addrs)), n, "one IP per device")
            self.assertTrue(all(a.startswith("192.168.1.") and ":" not in a for a in addrs))
            with open(os.path.join(mdir, "farm-%d-local.json" % n)) as fh:
                local = json.load(fh)["node"]
            self.assertEqual(sorted(local), sorted(real), "same tasks as farm-%d" % n)
            la = [a for v in local.values() for a in v]
            self.assertEqual(len(la), n)
            self.assertTrue(all(a.startswith("127.0.0.1:") for a in la))
            self.assertEqual(len(set(la)), n, "distinct ports")
        src = os.path.join(mdir, "farm-9-local.json")
        self.ck_ok("add", "machine:farm-9-shipped", "--access_type=avro", "--avro_config=" + src,
                   "--target_os=linux-64")
        ip = os.path.join(self.env["CK_REPOS"], "local", "machine", "farm-9-shipped", "ip")
        with open(ip) as a, open(src) as b:
            self.assertEqual(a.read(), b.read())

    def test_3b_start_server_starts_only_this_machines_nodes_of_a_real_farm(self):
        # artifact-style farm: none of 192.168.1.x is this machine -> error, nothing started
        self.ck_ok("add", "machine:farm-5-rpi", "--access_type=avro",
                   "--avro_config=" + os.path.join(self.root, "machine", "farm-5.json"), "--target_os=linux-64")
        rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5-rpi")
        self.assertNotEqual(rc, 0)
        self.assertIn("none of the addresses", out)
        # this machine is the initial node of a real farm -> nothing to start, success
        ffile = os.path.join(self.tmp, "farm-5-initial-here.json")
        with open(os.path.join(self.root, "machine", "farm-5.json")) as fh:
            farm = json.load(fh)
        farm["node"]["initial"] = ["127.0.0.1"]
        with open(ffile, "w") as fh:
            json.dump(farm, fh)
        self.ck_ok("add", "machine:farm-5-initial-here", "--access_type=avro", "--avro_config=" + ffile,
                   "--target_os=linux-64")
        rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5-initial-here")
        self.assertEqual(rc, 0, out[-3000:])
        self.assertIn("this machine is the farm's initial node", out)
        self.assertEqual(self.node_pids(), [])

    def test_4_one_machine_farm5_starts_benchmarks_records_and_stops(self):
        with open(os.path.join(self.root, "machine", "farm-5-local.json")) as fh:
            farm = json.load(fh)
        ports = iter(free_ports(5))
        for task in farm["node"]:
            farm["node"][task] = ["127.0.0.1:%d" % next(ports) for _ in farm["node"][task]]
        ffile = os.path.join(self.tmp, "farm-5.json")
        with open(ffile, "w") as fh:
            json.dump(farm, fh, indent=2)
        self.ck_ok("add", "machine:farm-5", "--access_type=avro", "--avro_config=" + ffile,
                   "--target_os=linux-64")
        try:
            rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5")
            self.assertEqual(rc, 0, "start-server failed:\n" + out[-4000:])
            pids = glob.glob(os.path.join(self.run_dir, "*", "*.pid"))
            self.assertEqual(len(pids), 4, "one pid file per task node: %r" % pids)
            running = self.node_pids()
            self.assertEqual(len(running), 4, "four local nodes running: %r" % running)

            rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes", "--target=farm-5", "--env.STAT_REPEAT=3")
            self.assertEqual(rc, 0, "farm benchmark failed:\n" + out[-4000:])
            self.check_timer("alexnet", out)
            with open(os.path.join(self.prog_tmp, "tmp-ck-output.json")) as fh:
                json.load(fh)

            uoa = "mchair-test-farm-5"
            rc, out = self.run_group([sys.executable, self.bench_script(),
                                      "--cmd_key=benchmark-alexnet-farm-5-nodes", "--target=farm-5",
                                      "--repeat=3", "--repetitions=2", "--record_uoa=" + uoa,
                                      "--tmp_dir=" + self.prog_tmp], 900, self.tmp)
            self.assertEqual(rc, 0, out[-4000:])
            path = self.check_record(uoa, "benchmark-alexnet-farm-5-nodes", "alexnet", 5, 2)
            with open(os.path.join(path, "pipeline.json")) as fh:
                pl = json.load(fh)
            self.assertEqual(pl["choices"]["device_cfg"]["access_type"], "avro")

            rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-stop-server", "--target=farm-5")
            self.assertEqual(rc, 0, out[-4000:])
            deadline = time.time() + 15
            while self.node_pids() and time.time() < deadline:
                time.sleep(0.2)
            self.assertEqual(self.node_pids(), [], "nodes still running after stop-server")
            self.assertEqual(glob.glob(os.path.join(self.run_dir, "*", "*.pid")), [])
        finally:
            left = self.kill_nodes()
            self.assertEqual(left, [], "node processes were left running (killed): %r" % left)

    def bench_script(self):
        return os.path.join(self.root, "script", "benchmark-request-iot-farm", "benchmarking.py")

    def test_5_benchmarking_records_a_request_experiment(self):
        uoa = "mchair-test-alexnet-cpu"
        rc, out = self.run_group([sys.executable, self.bench_script(),
                                  "--cmd_key=benchmark-alexnet-single-device-cpu", "--repeat=2",
                                  "--repetitions=2", "--record_uoa=" + uoa, "--tmp_dir=" + self.prog_tmp],
                                 900, self.tmp)
        self.assertEqual(rc, 0, out[-4000:])
        self.check_record(uoa, "benchmark-alexnet-single-device-cpu", "alexnet", 1, 2)
        out = self.ck_ok("list", "local:experiment:*")
        self.assertIn(uoa, out.split())

    def test_6_ck_zip_packs_the_experiments(self):
        zdir = os.path.join(self.tmp, "zip")
        os.makedirs(zdir, exist_ok=True)
        self.ck_ok("zip", "local:experiment:*", cwd=zdir)
        z = os.path.join(zdir, "ckr-local.zip")
        self.assertTrue(os.path.isfile(z), "ck zip wrote no ckr-local.zip")
        names = zipfile.ZipFile(z).namelist()
        exp = os.path.join(self.env["CK_REPOS"], "local", "experiment")
        entries = sorted(os.listdir(exp))
        self.assertIn("mchair-test-alexnet-cpu", entries)
        for e in entries:
            if e == ".cm":
                continue
            for d, _dirs, files in os.walk(os.path.join(exp, e)):
                for f in files:
                    rel = os.path.relpath(os.path.join(d, f), os.path.dirname(exp))
                    self.assertIn(rel, names)
            self.assertIn("experiment/%s/.cm/meta.json" % e, names)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, help="repository root (the CK repo)")
    ap.add_argument("--mchair", required=True, help="the mchair binary")
    ap.add_argument("--ck-env", default="", help="data-only ck-env (default ROOT/../shared/ck-env)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ARGS, rest = ap.parse_known_args()
    ensure_ck()
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
