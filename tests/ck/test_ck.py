#!/usr/bin/env python3
"""test_ck.py - the CK workflow of the repository, with the real CK kernel, offline.

    test_ck.py --repo REPO_ROOT --mchair PATH/TO/mchair [--ck-env DIR] [-v]

In a temporary CK_REPOS it registers ck-web (a local placeholder), ck-env
(../shared/ck-env: its os entries) and this repository, then, non-interactively:
  1. `ck detect soft --tags=lib,curl`, `ck install package --tags=lib,openblas`
     (Debian's packages, already installed here), `ck install package` of Check
     with apt-get replaced by a stub (the install branch runs `apt-get install`),
     and a failing apt-get (the error names the packages);
  2. both single-device CPU keys: the program's run_deps are resolved (OpenBLAS,
     cJSON, libcurl, libmicrohttpd, Avro C), the timer has the artifact's meaning;
  3. the GPU key: works on a GPU build with a GPU, else fails clearly with no timer;
  4. the shipped machine entries farm-5/9/11-local (usable as --target without
     `ck add machine`) and the artifact-style farm files;
  5. appendix A.7 as written, for farm-5, farm-9 and farm-11 (farm files on
     loopback with free ports; the OS question answered as a user would):
     `ck add machine:farm-N --access_type=avro --avro_config=farm-N.json`,
     -start-server, the benchmark with --env.STAT_REPEAT=5, `python
     benchmarking.py --cmd_key=... --target=farm-N` (from `ck find
     script:benchmark-request-iot-farm`), -stop-server; then `ck add machine:host
     --use_host` and benchmarking.py for both single-device CPU keys; then `ck ls
     local:experiment:ck-request-asplos18-iot-farm*` and `ck zip
     local:experiment:ck-request-asplos18-iot-farm*`, checking the zip's contents
     and every record's keys against the original ReQuEST records
     (../shared/request-results);
  6. script:request-report on the original records, ours and injected odd ones.
Everything it starts it stops; a node left running is killed and fails the test.
STAT_REPEAT is 3 in the environment of benchmarking.py (few frames: CI budget).
"""
import argparse
import glob
import importlib
import json
import math
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

ARGS = None
PROGRAM = "program:request-iot-benchmark"
PREFIX = "ck-request-asplos18-iot-farm-"
DEPS = ("lib-openblas", "lib-cjson", "lib-curl", "lib-microhttpd", "lib-avro")
PKG_CONFIG = {"lib-openblas": "openblas", "lib-cjson": "libcjson", "lib-curl": "libcurl",
              "lib-microhttpd": "libmicrohttpd", "lib-avro": "avro-c"}
FARMS = (("alexnet", 5), ("vgg16", 9), ("vgg16", 11))
# each of our records and the original record it is compared with
ORIGINAL_OF = {"benchmark-alexnet-farm-5-nodes": "benchmark-alexnet-farm-5-nodes",
               "benchmark-vgg16-farm-9-nodes": "benchmark-vgg16-farm-9-nodes",
               "benchmark-vgg16-farm-11-nodes": "benchmark-vgg16-farm-11-nodes",
               "benchmark-alexnet-single-device-cpu": "benchmark-alexnet-rpi-cpu",
               "benchmark-vgg16-single-device-cpu": "benchmark-vgg16-tx2-cpu"}
BENCH_REPEAT = 3


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


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def flat_of(entry):
    flats = [f for f in glob.glob(os.path.join(entry, "ckp-*.flat.json")) if not f.endswith(".features_flat.json")]
    return flats


def pkg_version(module, pc_path=""):
    env = dict(os.environ)
    if pc_path:
        env["PKG_CONFIG_PATH"] = pc_path
    return subprocess.run(["pkg-config", "--modversion", module], stdout=subprocess.PIPE, universal_newlines=True,
                          env=env).stdout.strip()


def tree_state(path):
    """{relative file: (size, mtime)} of a folder (to prove a run wrote nothing there)."""
    out = {}
    for d, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (st.st_size, st.st_mtime)
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
        for k in ("CK_TARGET_PATH", "STAT_REPEAT", "MCHAIR_FARM", "MCHAIR_APT_GET", "MCHAIR_DPKG_QUERY",
                  "MCHAIR_APT_INSTALL"):
            env.pop(k, None)
        cls.env = env
        # CK runs the program here (--tmp_dir), not in the source tree's program/.../tmp
        cls.prog_tmp = os.path.join(cls.tmp, "program-tmp")
        ck_env = (ARGS.ck_env or os.environ.get("MCHAIR_CK_ENV")
                  or os.path.join(os.path.dirname(cls.root), "shared", "ck-env"))
        ck_env = os.path.abspath(ck_env)
        if not os.path.isdir(os.path.join(ck_env, "os")):
            raise AssertionError("ck-env with os entries not found at %s (pass --ck-env DIR)" % ck_env)
        cls.request_results = os.path.join(os.path.dirname(ck_env), "request-results")
        # ck-env depends on ck-web: a local placeholder resolves it offline
        # (with a network, `ck pull repo:ck-env` fetches both).
        cls.ck_ok("add", "repo:ck-web", "--quiet")
        cls.ck_ok("add", "repo:ck-env", "--path=" + ck_env, "--quiet")
        cls.ck_ok("add", "repo:mchair", "--path=" + cls.root, "--quiet")
        cls.shipped = {d: tree_state(os.path.join(cls.root, d)) for d in ("experiment", "machine", "soft", "package")}

    @classmethod
    def tearDownClass(cls):
        cls.kill_nodes()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    @classmethod
    def ck(cls, *args, timeout=900, cwd=None, stdin="", env=None):
        cmd = [sys.executable, "-c", "import sys, ck.kernel as k; sys.exit(k.cli())"] + list(args)
        return cls.run_group(cmd, timeout, cwd or cls.tmp, stdin, env)

    @classmethod
    def run_group(cls, cmd, timeout, cwd, stdin="", env=None):
        """Run cmd in its own process group, stdin given (answers to CK's questions); on timeout
        kill the whole group (CK's shell, ck_run.py and mchair), then fail."""
        p = subprocess.Popen(cmd, env=env or cls.env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
        try:
            out, _ = p.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            raise AssertionError("timed out after %d s: %s\n%s" % (timeout, " ".join(cmd), out[-3000:]))
        if ARGS.verbose:
            sys.stdout.write("$ %s\n%s" % (" ".join(cmd[3:] if cmd[1] == "-c" else cmd), out))
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

    def bench(self, *args, env=None):
        """python3 benchmarking.py ARGS, from `ck find script:benchmark-request-iot-farm` as A.7.8 says."""
        where = self.ck_ok("find", "script:benchmark-request-iot-farm").strip().splitlines()[-1]
        self.assertTrue(os.path.isfile(os.path.join(where, "benchmarking.py")), where)
        e = dict(env or self.env, STAT_REPEAT=str(BENCH_REPEAT))
        return self.run_group([sys.executable, "benchmarking.py"] + list(args), 900, where, env=e)

    def timer(self):
        path = os.path.join(self.prog_tmp, "tmp-ck-timer.json")
        self.assertTrue(os.path.isfile(path), "no timer file " + path)
        return read_json(path)

    def check_timer(self, model, out, kind):
        """The timer has the artifact's meaning (see ck_run.timer_keys) and CK printed it."""
        t = self.timer()
        rep = read_json(os.path.join(self.prog_tmp, "tmp-ck-output.json"))
        # no window of "plausible" times (that would test the machine's speed): the timer must be
        # a positive number derived exactly from the run's own report, as the artifact derives it
        self.assertTrue(t["execution_time"] > 0 and math.isfinite(t["execution_time"]), t)
        self.assertEqual(t["execution_time"], t["execution_time_classify"])
        if kind == "single":
            self.assertAlmostEqual(t["execution_time"], 1.0 / rep["throughput_ips"], places=12)
        else:
            arr = sorted(x for x in rep["recv_s"] if x is not None)
            self.assertEqual(len(arr), rep["repeat"], "every frame came back")
            self.assertAlmostEqual(t["execution_time"], (arr[-1] - arr[0]) / (len(arr) - 1), places=12)
            self.assertEqual(t["mchair_frames_done"], rep["repeat"])
            self.assertTrue(any(k.startswith("mchair_task_") for k in t), t)
        self.assertAlmostEqual(t["mchair_latency_s"], rep["mean_s"], places=12)
        self.assertIn("reading fine grain timers from tmp-ck-timer.json", out)
        line = [x for x in out.splitlines() if x.startswith("Execution time:")]
        self.assertTrue(line, "CK printed no execution time")
        self.assertAlmostEqual(float(line[-1].split()[2]), t["execution_time"], delta=0.0015)
        return t, rep

    def check_deps_resolved(self, out, extra=()):
        for i, d in enumerate(DEPS + tuple(extra)):
            self.assertIn("*** Dependency %d = %s" % (i + 1, d), out)
        self.assertEqual(out.count("Resolved. CK environment UID ="), len(DEPS) + len(extra), out[-3000:])

    @classmethod
    def node_pids(cls):
        """Processes started from this test's run folder or farm files."""
        return [pid for pid, c in proc_cmdlines().items()
                if " node " in c and (cls.tmp in c or os.path.join(cls.root, "machine") in c) and pid != os.getpid()]

    @classmethod
    def kill_nodes(cls):
        pids = cls.node_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return pids

    def env_entries(self, tags):
        """(uid, meta, env.sh text) of the local env entries having every tag."""
        out = []
        for d in glob.glob(os.path.join(self.env["CK_REPOS"], "local", "env", "*", ".cm", "meta.json")):
            m = read_json(d)
            if set(tags) <= set(m.get("tags", [])):
                e = os.path.dirname(os.path.dirname(d))
                with open(os.path.join(e, "env.sh")) as fh:
                    out.append((os.path.basename(e), m, fh.read()))
        return out

    def exported(self, text, var):
        for line in text.splitlines():
            if line.startswith("export %s=" % var):
                return line.split("=", 1)[1]
        return None

    def stub(self, name, body):
        d = os.path.join(self.tmp, "stubs")
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, name)
        with open(p, "w") as fh:
            fh.write("#!/bin/sh\n" + body)
        os.chmod(p, os.stat(p).st_mode | stat.S_IEXEC)
        return p

    # ------------------------------------------------------------ 1. soft and package entries
    def test_1_soft_detection_and_debian_packages(self):
        out = self.ck_ok("detect", "soft", "--tags=lib,curl")
        envs = self.env_entries(["lib", "curl"])
        self.assertEqual(len(envs), 1, out[-2000:])
        _uid, meta, text = envs[0]
        self.assertEqual(meta["customize"]["version"], pkg_version("libcurl"))
        inc = self.exported(text, "CK_ENV_LIB_CURL_INCLUDE")
        self.assertTrue(inc and os.path.isfile(os.path.join(inc, "curl", "curl.h")), text)
        self.assertTrue(os.path.isfile(self.exported(text, "CK_ENV_LIB_CURL_FILE")), text)
        self.assertEqual(self.exported(text, "CK_ENV_LIB_CURL_DEB_PACKAGE"), "libcurl4-openssl-dev")

        out = self.ck_ok("install", "package", "--tags=lib,openblas")
        self.assertIn("Debian package(s) libopenblas-openmp-dev already installed", out)
        envs = self.env_entries(["lib", "openblas"])
        self.assertEqual(len(envs), 1, out[-2000:])
        _uid, meta, text = envs[0]
        pc = self.exported(text, "CK_ENV_LIB_OPENBLAS_PKG_CONFIG_PATH")
        self.assertEqual(meta["customize"]["version"], pkg_version("openblas", pc))
        self.assertTrue(os.path.isfile(os.path.join(self.exported(text, "CK_ENV_LIB_OPENBLAS_INCLUDE"), "cblas.h")))
        # the OpenBLAS CK registered is the one mchair loads (the OpenMP build)
        ldd = subprocess.run(["ldd", self.mchair], stdout=subprocess.PIPE, universal_newlines=True).stdout
        loaded = [os.path.realpath(x.split("=>")[1].split()[0]) for x in ldd.splitlines() if "libopenblas" in x]
        self.assertEqual(loaded, [self.exported(text, "CK_ENV_LIB_OPENBLAS_FILE")])
        self.assertTrue(meta["package_uoa"], "the env entry names its package")
        # again: the same env entry, and nothing written into the system's folders (no ck-install.json in /usr)
        out = self.ck_ok("install", "package", "--tags=lib,openblas")
        self.assertEqual([e[0] for e in self.env_entries(["lib", "openblas"])], [envs[0][0]], out[-2000:])
        self.assertNotIn("Recording CK configuration", out)

        # the install branch: Check "not installed" -> apt-get install, as root or with sudo -n
        log = os.path.join(self.tmp, "apt.log")
        real = shutil.which("dpkg-query")

        def not_installed(pkg):  # dpkg-query that says pkg is not installed, and asks the real one otherwise
            return self.stub("dpkg-query", 'case "$*" in *Status*" %s") echo "unknown ok not-installed"; exit 1;; '
                             'esac\nexec %s "$@"\n' % (pkg, real))
        dq = not_installed("check")
        apt_ok = self.stub("apt-get", 'echo "$*" >> %s\nexit 0\n' % log)
        self.stub("sudo", '[ "$1" = -n ] && shift\nexec "$@"\n')
        env = dict(self.env, PATH=os.path.dirname(dq) + ":" + self.env["PATH"], MCHAIR_DPKG_QUERY=dq,
                   MCHAIR_APT_GET=apt_ok)
        # no terminal and no MCHAIR_APT_INSTALL=yes: nothing is installed, the error says how
        rc, out = self.ck("install", "package", "--tags=lib,check", env=env)
        self.assertNotEqual(rc, 0, out[-2000:])
        self.assertIn("the Debian package(s) check are not installed", out)
        self.assertFalse(os.path.exists(log), "apt-get ran without consent")
        env["MCHAIR_APT_INSTALL"] = "yes"
        out = self.ck_ok("install", "package", "--tags=lib,check", env=env)
        with open(log) as fh:
            self.assertEqual(fh.read().split("\n")[0], "install -y --no-install-recommends check", out[-2000:])
        self.assertEqual(len(self.env_entries(["lib", "check"])), 1, out[-2000:])

        # a failing apt-get: an error naming the package, apt-get update tried (failing too: no second
        # install), no env entry
        not_installed("libcjson-dev")
        apt_bad = self.stub("apt-get-bad", 'echo "$*" >> %s\nexit 100\n' % log)
        os.remove(log)
        rc, out = self.ck("install", "package:lib-cjson-debian", env=dict(env, MCHAIR_APT_GET=apt_bad))
        self.assertNotEqual(rc, 0, out[-2000:])
        self.assertIn("installing the Debian package(s) libcjson-dev failed", out)
        with open(log) as fh:
            self.assertEqual(fh.read().split("\n"), ["install -y --no-install-recommends libcjson-dev", "update", ""])
        self.assertEqual(self.env_entries(["lib", "cjson"]), [])

    # ------------------------------------------------------------ 2. single device
    def test_2_single_device_cpu_keys_resolve_deps_and_time_as_the_artifact(self):
        for model in ("alexnet", "vgg16"):
            key = "benchmark-%s-single-device-cpu" % model
            rc, out = self.ck_run(key, "--env.STAT_REPEAT=2")
            self.assertEqual(rc, 0, out[-4000:])
            self.check_deps_resolved(out)
            _t, rep = self.check_timer(model, out, "single")
            self.assertEqual(rep["repeat"], 2, "STAT_REPEAT not honoured")
            self.assertEqual(len(rep["latency_s"]), 2)
            self.assertEqual(rep["model"], model)
        # a binary that does not load what CK resolved is refused: CK's cJSON made to point at another file
        env = dict(self.env)
        for tags in (["lib", "openblas"], ["lib", "cjson"], ["lib", "curl"], ["lib", "microhttpd"], ["lib", "avro-c"]):
            envs = self.env_entries(tags)
            self.assertEqual(len(envs), 1, "one env entry for %s" % tags)
            for line in envs[0][2].splitlines():
                if line.startswith("export CK_ENV_"):
                    k, v = line[len("export "):].split("=", 1)
                    env[k] = v
        env["CK_ENV_LIB_CJSON_FILE"] = env["CK_ENV_LIB_CURL_FILE"]
        work = os.path.join(self.tmp, "wrong-lib")
        os.makedirs(work)
        rc, out = self.run_group([sys.executable, os.path.join(self.root, "program", "request-iot-benchmark",
                                                               "ck_run.py"), "benchmark-alexnet-single-device-cpu"],
                                 300, work, env=env)
        self.assertEqual(rc, 1, out[-2000:])
        self.assertIn("does not use what CK resolved", out)
        self.assertIn("cJSON: CK resolved %s, mchair loads" % env["CK_ENV_LIB_CURL_FILE"], out)
        self.assertFalse(os.path.exists(os.path.join(work, "tmp-ck-timer.json")))

    def test_3_gpu_key_runs_on_a_gpu_build_or_fails_clearly_without_a_timer(self):
        probe = subprocess.run([self.mchair, "predict", "--model", "alexnet", "--device", "gpu",
                                "--repeat", "1", "--quiet"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                               universal_newlines=True, timeout=600)
        rc, out = self.ck_run("benchmark-alexnet-single-device-gpu", "--env.STAT_REPEAT=2")
        if probe.returncode == 0:
            self.assertEqual(rc, 0, out[-4000:])
            self.check_deps_resolved(out, ("compiler-cuda", "lib-cudnn"))
            self.check_timer("alexnet", out, "single")
            return
        self.assertNotEqual(rc, 0, "GPU key succeeded without a GPU backend:\n" + out[-3000:])
        # either CK found no CUDA/cuDNN to resolve, or mchair found no GPU
        if "the GPU benchmark needs the CUDA build of mchair" not in out:
            self.assertRegex(out, r"compiler-cuda|lib-cudnn", out[-3000:])
        self.assertFalse(os.path.exists(os.path.join(self.prog_tmp, "tmp-ck-timer.json")),
                         "a timer file was left for CK to read")
        # and benchmarking.py records nothing for it
        uoa = "mchair-test-gpu-without-gpu"
        rc, out = self.bench("--cmd_key=benchmark-alexnet-single-device-gpu", "--repetitions=1",
                             "--record_uoa=" + uoa, "--tmp_dir=" + self.prog_tmp)
        self.assertNotEqual(rc, 0, out[-3000:])
        self.assertFalse(os.path.exists(os.path.join(self.env["CK_REPOS"], "local", "experiment", uoa)))

    # ------------------------------------------------------------ 4. machines
    def test_4_shipped_machine_entries_and_farm_files(self):
        mdir = os.path.join(self.root, "machine")
        out = self.ck_ok("ls", "mchair:machine:*")
        self.assertEqual(sorted(out.split()), ["farm-11-local", "farm-5-local", "farm-9-local"])
        for n in (5, 9, 11):
            real = read_json(os.path.join(mdir, "farm-%d.json" % n))["node"]
            addrs = [a for v in real.values() for a in v]
            self.assertEqual(len(addrs), n)
            self.assertEqual(len(set(addrs)), n, "one IP per device")
            self.assertTrue(all(a.startswith("192.168.1.") and ":" not in a for a in addrs))
            local = read_json(os.path.join(mdir, "farm-%d-local.json" % n))
            self.assertEqual(sorted(local["node"]), sorted(real), "same tasks as farm-%d" % n)
            la = [a for v in local["node"].values() for a in v]
            self.assertEqual(len(la), n)
            self.assertTrue(all(a.startswith("127.0.0.1:") for a in la))
            self.assertEqual(len(set(la)), n, "distinct ports")
            # the CK entry: access type avro, its ip and meta are that file
            entry = os.path.join(mdir, "farm-%d-local" % n)
            meta = read_json(os.path.join(entry, ".cm", "meta.json"))
            self.assertEqual(meta["access_type"], "avro")
            self.assertEqual(meta["device_cfg"]["remote_params"]["avro_config"], local)
            self.assertEqual(read_json(os.path.join(entry, "ip")), local)
            # usable as --target without `ck add machine`: CK points CK_TARGET_PATH at the shipped entry
            # and the program reads its ip (the stop key: the entries' fixed ports may be taken by other
            # programs on a shared machine; the shipped records were made with whole runs on them)
            model = "alexnet" if n == 5 else "vgg16"
            rc, out = self.ck_run("benchmark-%s-farm-%d-nodes-stop-server" % (model, n), "--target=farm-%d-local" % n)
            self.assertEqual(rc, 0, out[-4000:])
            self.assertIn("no node of %s was started from here" % os.path.join(entry, "ip"), out)

    def wait_nodes_gone(self):
        deadline = time.time() + 15
        while self.node_pids() and time.time() < deadline:
            time.sleep(0.2)
        left = self.kill_nodes()
        self.assertEqual(left, [], "node processes were left running (killed): %r" % left)

    def test_4b_start_server_starts_only_this_machines_nodes_of_a_real_farm(self):
        # artifact-style farm: none of 192.168.1.x is this machine -> error, nothing started
        self.ck_ok("add", "machine:farm-5-rpi", "--access_type=avro",
                   "--avro_config=" + os.path.join(self.root, "machine", "farm-5.json"), "--target_os=linux-64")
        rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5-rpi")
        self.assertNotEqual(rc, 0)
        self.assertIn("none of the addresses", out)
        # this machine is the initial node of a real farm -> nothing to start, success
        ffile = os.path.join(self.tmp, "farm-5-initial-here.json")
        farm = read_json(os.path.join(self.root, "machine", "farm-5.json"))
        farm["node"]["initial"] = ["127.0.0.1"]
        with open(ffile, "w") as fh:
            json.dump(farm, fh)
        self.ck_ok("add", "machine:farm-5-initial-here", "--access_type=avro", "--avro_config=" + ffile,
                   "--target_os=linux-64")
        rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5-initial-here")
        self.assertEqual(rc, 0, out[-3000:])
        self.assertIn("this machine is the farm's initial node", out)
        self.assertEqual(self.node_pids(), [])

    # ------------------------------------------------------------ 4c. a keyed farm
    def test_4c_a_machine_entry_that_names_a_key_runs_an_authenticated_farm(self):
        work = os.path.join(self.tmp, "keyed")
        os.makedirs(work)
        key = os.path.join(work, "farm.key")
        with open(key, "w") as fh:
            fh.write("a farm key for the CK test, 32+ bytes\n")
        os.chmod(key, 0o644)
        base = read_json(os.path.join(self.root, "machine", "farm-5.json"))
        ports = iter(free_ports(5))
        farm = {"node": {t: ["127.0.0.1:%d" % next(ports) for _ in a] for t, a in base["node"].items()},
                "key_file": key, "encrypt": True}
        with open(os.path.join(work, "farm-5-keyed.json"), "w") as fh:
            json.dump(farm, fh, indent=2)
        self.ck_ok("add", "machine:farm-5-keyed", "--access_type=avro", "--avro_config=farm-5-keyed.json",
                   "--target_os=linux-64", cwd=work)
        try:
            # a key file others may read: every node refuses it, nothing keeps running
            rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5-keyed")
            self.assertNotEqual(rc, 0, out[-3000:])
            self.assertIn("chmod 600", out)
            self.wait_nodes_gone()
            os.chmod(key, 0o600)
            rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes-start-server", "--target=farm-5-keyed")
            self.assertEqual(rc, 0, out[-4000:])
            self.assertEqual(len(self.node_pids()), 4)
            logs = glob.glob(os.path.join(self.run_dir, "*", "node-*.log"))
            keyed = []
            for p in logs:
                with open(p, errors="replace") as fh:
                    if "authenticated: farm key fingerprint" in fh.read():
                        keyed.append(p)
            self.assertEqual(len(keyed), 4, "every node of the keyed farm says it is authenticated")
            rc, out = self.ck_run("benchmark-alexnet-farm-5-nodes", "--target=farm-5-keyed", "--env.STAT_REPEAT=3")
            self.assertEqual(rc, 0, "keyed farm benchmark failed:\n" + out[-4000:])
            self.assertIn("--key-file " + key + " --encrypt", out)
            _t, rep = self.check_timer("alexnet", out, "farm")
            self.assertEqual(rep["done"], 3)
        finally:
            self.ck_run("benchmark-alexnet-farm-5-nodes-stop-server", "--target=farm-5-keyed")
            self.wait_nodes_gone()

    # ------------------------------------------------------------ 5. appendix A.7
    def test_5_appendix_a7_as_written(self):
        work = os.path.join(self.tmp, "a7")
        os.makedirs(work)
        try:
            for model, n in FARMS:
                self.a7_farm(work, model, n)
        finally:
            self.wait_nodes_gone()
        # A.7.8 on the host
        # the OS question again: 1) linux-64 (Enter would take 0, linux-32)
        out = self.ck_ok("add", "machine:host", "--use_host", stdin="1\n" + "\n" * 8)
        self.assertIn("Selected target OS UOA:    linux-64", out)
        for model in ("alexnet", "vgg16"):
            rc, out = self.bench("--cmd_key=benchmark-%s-single-device-cpu" % model)
            self.assertEqual(rc, 0, out[-4000:])
        names = sorted(PREFIX + k for k in ORIGINAL_OF)
        out = self.ck_ok("ls", "local:experiment:ck-request-asplos18-iot-farm*")
        self.assertEqual(sorted(out.split()), names)
        zdir = os.path.join(self.tmp, "zip")
        os.makedirs(zdir)
        self.ck_ok("zip", "local:experiment:ck-request-asplos18-iot-farm*", cwd=zdir)
        z = os.path.join(zdir, "ckr-local.zip")
        self.assertTrue(os.path.isfile(z), "ck zip wrote no ckr-local.zip")
        packed = set(zipfile.ZipFile(z).namelist())
        exp = os.path.join(self.env["CK_REPOS"], "local", "experiment")
        want = set()
        for e in names:
            for d, _dirs, files in os.walk(os.path.join(exp, e)):
                want |= {os.path.relpath(os.path.join(d, f), os.path.dirname(exp)) for f in files}
        self.assertEqual({x for x in packed if x.startswith("experiment/") and not x.startswith("experiment/.cm/")},
                         want, "the zip holds exactly the five records' files")
        for cmd_key, orig in ORIGINAL_OF.items():
            self.check_record(os.path.join(exp, PREFIX + cmd_key), cmd_key,
                              os.path.join(self.request_results, "experiment", PREFIX + orig))
        for d, before in self.shipped.items():
            self.assertEqual(tree_state(os.path.join(self.root, d)), before, "the run wrote into the repository's " + d)

    def a7_farm(self, work, model, n):
        base = read_json(os.path.join(self.root, "machine", "farm-%d.json" % n))
        ports = iter(free_ports(n))
        farm = {"node": {t: ["127.0.0.1:%d" % next(ports) for _ in a] for t, a in base["node"].items()}}
        with open(os.path.join(work, "farm-%d.json" % n), "w") as fh:
            json.dump(farm, fh, indent=2)
        name = "farm-%d" % n
        key = "benchmark-%s-farm-%d-nodes" % (model, n)
        # the OS question: "Select linux-32 or linux-64 depending on your nodes" -> 1) linux-64
        out = self.ck_ok("add", "machine:" + name, "--access_type=avro", "--avro_config=farm-%d.json" % n,
                         cwd=work, stdin="1\n")
        self.assertIn("linux-64", out)
        rc, out = self.ck_run(key + "-start-server", "--target=" + name)
        self.assertEqual(rc, 0, "start-server failed:\n" + out[-4000:])
        self.assertEqual(len(self.node_pids()), n - 1, "one node per task device")
        rc, out = self.ck_run(key, "--target=" + name, "--env.STAT_REPEAT=5")
        self.assertEqual(rc, 0, "farm benchmark failed:\n" + out[-4000:])
        self.check_deps_resolved(out)
        _t, rep = self.check_timer(model, out, "farm")
        self.assertEqual(rep["repeat"], 5)
        rc, out = self.bench("--cmd_key=" + key, "--target=" + name)
        self.assertEqual(rc, 0, out[-4000:])
        rc, out = self.ck_run(key + "-stop-server", "--target=" + name)
        self.assertEqual(rc, 0, out[-4000:])
        self.wait_nodes_gone()
        self.assertEqual(glob.glob(os.path.join(self.run_dir, "*", "*.pid")), [])

    def check_record(self, path, cmd_key, original):
        """One of our records against the original ReQuEST record it corresponds to."""
        model = cmd_key.split("-")[1]
        farm_n = int(cmd_key.split("-")[3]) if "-farm-" in cmd_key else 1
        ours_m, orig_m = read_json(os.path.join(path, ".cm", "meta.json")), read_json(
            os.path.join(original, ".cm", "meta.json"))
        self.assertEqual(set(orig_m) - set(ours_m), set(), "top-level keys of " + path)
        self.assertEqual(ours_m["pipeline_uoa"], "program")
        self.assertLessEqual({"request", "request-asplos18", "request-iot-benchmark"}, set(ours_m["tags"]))
        self.assertIn(cmd_key, ours_m["tags"])
        m = ours_m["meta"]
        missing = set(orig_m["meta"]) - set(m)
        price = {"platform_price", "platform_price_date", "platform_peak_power"}
        if missing:  # only price and power, and only because this is no known platform and none was declared
            self.assertLessEqual(missing, price, "meta keys missing in " + path)
            self.assertIn("price and power unknown", m["platform_power_note"])
        self.assertEqual(m["model_species"], orig_m["meta"]["model_species"])
        self.assertEqual(m["model_precision"], "fp32")
        self.assertTrue(m["library_name"].startswith("mchair "), m["library_name"])
        self.assertTrue(m["cpu_name"] and m["os_name"] and m["plat_name"], "platform meta empty")
        self.assertEqual(m["farm_devices"], farm_n)
        self.assertEqual(m["target_os_uid"], m["host_os_uid"], "records of this machine target its own OS")
        self.assertEqual(m["farm_machines"], 1)
        if farm_n > 1:
            self.assertIn("%d nodes" % farm_n, m["farm"])
        for d in DEPS:
            ds = m["deps_summary"][d]
            pc = os.environ.get("PKG_CONFIG_PATH", "")
            if d == "lib-openblas":
                pc = glob.glob("/usr/lib/*/openblas-openmp/pkgconfig")[0] if glob.glob(
                    "/usr/lib/*/openblas-openmp/pkgconfig") else pc
            self.assertEqual(ds["version"], pkg_version(PKG_CONFIG[d], pc), d)
            self.assertIn("Debian", ds["data_name"], d)
        flats = flat_of(path)
        self.assertEqual(len(flats), 1, "expected one point in " + path)
        flat = read_json(flats[0])
        base = flats[0][:-len(".flat.json")]
        for suffix in (".features.json", ".features_flat.json", ".0001.json"):
            self.assertTrue(os.path.isfile(base + suffix), base + suffix + " missing")
        for f in ("pipeline.json", "desc.json"):
            self.assertTrue(os.path.isfile(os.path.join(path, f)), f + " missing in " + path)
        oflat = read_json(flat_of(original)[0])
        want = {k for k in oflat if k.startswith("##characteristics#run#") and "#accuracy_" not in k}
        self.assertEqual(want - set(flat), set(), "run characteristics missing in " + path)
        self.assertEqual(flat["##characteristics#run#run_success#all"], ["yes"] * 3)
        lat = flat["##characteristics#run#execution_time#all"]
        self.assertEqual(len(lat), 3)
        self.assertTrue(all(x > 0 and math.isfinite(x) for x in lat), "times %r" % lat)
        self.assertAlmostEqual(flat["##characteristics#run#execution_time#mean"], sum(lat) / 3, places=9)
        self.assertEqual(flat["##characteristics#run#inference_latency#all"],
                         flat["##characteristics#run#execution_time_classify#all"])
        for a, b in zip(flat["##characteristics#run#inference_throughput#all"], lat):
            self.assertAlmostEqual(a * b, 1.0, places=9)
        self.assertIn("##characteristics#run#mchair_latency_s#mean", flat)
        self.assertEqual(read_json(base + ".features_flat.json")["##choices#cmd_key"], cmd_key)

    # ------------------------------------------------------------ 6. report tool, shipped records
    def test_6_report_reads_every_record_and_says_what_it_skipped(self):
        out = self.ck_ok("ls", "mchair:experiment:*")
        shipped = sorted(out.split())
        self.assertTrue(shipped, "no experiment entries shipped in the repository")
        odd = os.path.join(self.tmp, "odd-results")
        src = os.path.join(self.request_results, "experiment", PREFIX + "benchmark-alexnet-tx2-cpu")
        board = os.path.join(odd, "experiment", "odd-board-resnet")
        shutil.copytree(src, board)
        m = read_json(os.path.join(board, ".cm", "meta.json"))
        m["meta"].update(plat_name="Some Board X9", model_species="0000000000000000", model_design_name="ResNet50 v1")
        with open(os.path.join(board, ".cm", "meta.json"), "w") as fh:
            json.dump(m, fh)
        notreq = os.path.join(odd, "experiment", "not-a-request-record")
        shutil.copytree(src, notreq)
        m2 = dict(m, tags=["something-else"])
        m2["meta"] = {k: v for k, v in m["meta"].items() if k != "scenario_module_uoa"}
        with open(os.path.join(notreq, ".cm", "meta.json"), "w") as fh:
            json.dump(m2, fh)
        notime = os.path.join(odd, "experiment", "no-time")
        shutil.copytree(src, notime)
        for f in flat_of(notime):
            d = {k: v for k, v in read_json(f).items() if "#execution_time#" not in k}
            with open(f, "w") as fh:
                json.dump(d, fh)
        rdir = os.path.join(self.tmp, "report")
        script = os.path.join(self.root, "script", "request-report", "report.py")
        rc, out = self.run_group([sys.executable, script, "--repo", self.request_results, "--repo", self.root,
                                  "--repo", odd, "--out", rdir], 300, self.tmp)
        self.assertEqual(rc, 0, out[-3000:])
        rep = read_json(os.path.join(rdir, "report.json"))
        used = {(os.path.basename(u["root"]), u["name"]) for u in rep["used"]}
        for e in os.listdir(os.path.join(self.request_results, "experiment")):
            if not e.startswith("."):
                self.assertIn((os.path.basename(self.request_results), e), used)
        for e in shipped:  # every ReQuEST record (the two-stream ones are not: below)
            if not e.startswith("mchair-emu-twostream-"):
                self.assertIn((os.path.basename(self.root), e), used, "shipped record %s not used" % e)
        label = [u["label"] for u in rep["used"] if u["name"] == "odd-board-resnet"]
        self.assertEqual(len(label), 1)
        self.assertIn("Some Board X9", label[0])
        self.assertIn("ResNet50", label[0])
        skipped = {s["entry"]: s["why"] for s in rep["skipped"]
                   if os.path.basename(s["repository"]) == os.path.basename(odd)}
        self.assertEqual(sorted(skipped), ["no-time", "not-a-request-record"], out[-2000:])
        # this repository's own records that are not ReQuEST ones (the two-stream experiments,
        # bench/bench_twostream_emu.py) are skipped as such, and nothing else of it
        ours = {s["entry"]: s["why"] for s in rep["skipped"]
                if os.path.basename(s["repository"]) == os.path.basename(self.root)}
        self.assertEqual(sorted(ours), [e for e in shipped if e.startswith("mchair-emu-twostream-")])
        for e, why in ours.items():
            self.assertTrue(e.startswith("mchair-emu-twostream-"), "shipped record %s skipped: %s" % (e, why))
            self.assertIn("not a ReQuEST record", why)
        self.assertIn("not a ReQuEST record", skipped["not-a-request-record"])
        self.assertIn("no execution time", skipped["no-time"])
        self.assertIn("skipped %d:" % (2 + len(ours)), out)
        self.assertIn("not-a-request-record", out)
        for f in ("report.md", "ips.png", "ips.svg", "energy.png", "energy.svg"):
            self.assertGreater(os.path.getsize(os.path.join(rdir, f)), 100, f)


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
