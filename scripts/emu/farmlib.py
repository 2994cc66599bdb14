"""farmlib.py - drive an emulated farm (`mchair farm ...`) from Python.

Used by tests/emu/test_emu.py and scripts/emu/experiment.py.  Everything
goes through the `mchair farm` command line (src/emu/emulate.c); this
module only starts processes inside devices, keeps track of them, and
builds farm files (docs/emulated-farm.md, /work/briefs/farm-contract.md)
from the farm's addresses.
"""
import json
import os
import re
import signal
import subprocess
import time

NETNS_DIR = "/var/run/netns"
CGROUP_ROOT = "/sys/fs/cgroup"

# The unsupported-machine messages of mc_farm_check_support().
UNSUPPORTED_PATTERNS = ("needs root", "cannot create network namespaces", "cgroup v1 not usable",
                        "needs `ip` and `tc`")


class FarmUnsupported(Exception):
    """The machine cannot run an emulated farm (no root, namespaces, cgroup v1 or iproute2)."""


class FarmError(Exception):
    pass


class Farm:
    """One emulated farm, named `name` (1-12 chars [a-z0-9])."""

    def __init__(self, mchair, name, state=None):
        self.mchair = os.path.abspath(mchair)
        self.name = name
        self.state_path = state
        self.state = None
        self.procs = []  # Popen objects started in devices, stopped by stop_all()

    # -- life cycle --------------------------------------------------------
    def _cmd(self, *args):
        cmd = [self.mchair, "farm"] + list(args) + ["--name", self.name]
        if self.state_path:
            cmd += ["--state", self.state_path]
        return cmd

    def up(self, devices, link=None, cpu=None, preset=None, mem=None, calib_repeat=None, timeout=300,
           device_model=None):
        cmd = self._cmd("up", "--devices", str(devices))
        if device_model:
            cmd += ["--device-model", device_model]
        if link:
            cmd += ["--link", link]
        if cpu:
            cmd += ["--cpu", str(cpu)]
        if preset:
            cmd += ["--preset", preset]
        if mem:
            cmd += ["--mem", str(mem)]
        if calib_repeat:
            cmd += ["--calib-repeat", str(calib_repeat)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            if any(p in r.stderr for p in UNSUPPORTED_PATTERNS):
                raise FarmUnsupported(r.stderr.strip())
            raise FarmError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        self.output = r.stdout
        path = self.state_path or re.search(r"^state: (.*)$", r.stdout, re.M).group(1)
        with open(path) as f:
            self.state = json.load(f)
        return self.state

    def down(self):
        self.stop_all()
        r = subprocess.run(self._cmd("down"), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise FarmError("mchair farm down failed (exit %d): %s" % (r.returncode, r.stderr.strip()))
        return r.stdout

    def status(self):
        return subprocess.run(self._cmd("status"), capture_output=True, text=True, timeout=60)

    # -- processes in devices ---------------------------------------------
    def exec_argv(self, device, argv, unlimited=False):
        cmd = [self.mchair, "farm", "exec", "--name", self.name]
        if unlimited:
            cmd.append("--unlimited")
        return cmd + [str(device), "--"] + list(argv)

    def popen(self, device, argv, unlimited=False, **kw):
        """Starts argv in device `device` (an int, or "hub") in the background."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.exec_argv(device, argv, unlimited), **kw)
        self.procs.append(p)
        return p

    def run(self, device, argv, unlimited=False, timeout=120, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.exec_argv(device, argv, unlimited), timeout=timeout, **kw)

    def attach(self, device, pids):
        subprocess.run([self.mchair, "farm", "attach", "--name", self.name, str(device)] +
                       [str(p) for p in pids], check=True, capture_output=True, text=True, timeout=30)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # `farm exec` forwards it to the command
        deadline = time.time() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def kill_in_devices(self, devices):
        """SIGKILLs whatever still runs in these devices' namespaces (orphans of a timed-out run)."""
        for k in devices:
            ns = "mc-%s-%s" % (self.name, "hub" if k == "hub" else "d%d" % k)
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass

    # -- addresses -----------------------------------------------------------
    def addresses(self):
        return [d["address"] for d in self.state["device"]]

    def cgroup(self, device, ctl):
        return "%s/%s/mchair-%s-d%d" % (CGROUP_ROOT, ctl, self.name, device)


def leftovers(name):
    """Namespaces and cgroups of farm `name` that exist now (what `down` must remove)."""
    out = []
    own_ns = re.compile(r"^mc-%s-(hub|d\d+)$" % re.escape(name))
    own_cg = re.compile(r"^mchair-%s-d\d+$" % re.escape(name))
    if os.path.isdir(NETNS_DIR):
        out += ["netns " + n for n in sorted(os.listdir(NETNS_DIR)) if own_ns.match(n)]
    for ctl in ("cpu", "memory"):
        d = os.path.join(CGROUP_ROOT, ctl)
        if os.path.isdir(d):
            out += ["cgroup %s/%s" % (d, n) for n in sorted(os.listdir(d)) if own_cg.match(n)]
    return out


def root_network_snapshot():
    """The root namespace's interfaces and qdiscs (the farm must not change them)."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = sorted(re.findall(r"^\d+: ([^:@]+)", links, re.M))
    qdiscs = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    qd = sorted(re.sub(r"qdisc (\S+) [0-9a-f]+:", r"qdisc \1", l) for l in qdiscs.splitlines())
    return {"links": names, "qdiscs": qd}


# ---- farm files -------------------------------------------------------------
# The artifact's layouts (DESIGN.md section 3, farm-contract.md presets) as
# explicit task lists: (name, first layer, last layer, method, parts, replicas).
# VGG16 on 10 devices has no artifact layout: experiment.py runs the
# planner's plan there (and next to every layout here).
def _alex(block1_replicas, split):
    return [("block1", "conv1", "flatten", "data", 1, block1_replicas),
            ("block2", "fc1", "fc1", "fc_output" if split else "data", 2 if split else 1, 1),
            ("block3", "fc2", "fc3", "data", 1, 1)]


def _vgg_pipeline(block234):
    return [("block1", "block1_conv1", "block1_pool", "data", 1, 1),
            ("block234", "block2_conv1", "block4_pool", "data", 1, block234),
            ("block5", "block5_conv1", "flatten", "data", 1, 1),
            ("fc1", "fc1", "fc1", "fc_output", 2, 1),
            ("fc2", "fc2", "predictions", "data", 1, 1)]


def _vgg_wide(convs):
    return [("block12345", "block1_conv1", "flatten", "data", 1, convs),
            ("fc1", "fc1", "fc1", "fc_output", 2, 1),
            ("fc2", "fc2", "predictions", "data", 1, 1)]


LAYOUTS = {
    ("alexnet", 4): _alex(1, False),
    ("alexnet", 5): _alex(1, True),
    ("alexnet", 6): _alex(2, True),
    ("vgg16", 8): _vgg_pipeline(2),
    ("vgg16", 9): _vgg_pipeline(3),
    ("vgg16", 11): _vgg_wide(7),
}


def layout_devices(tasks):
    """Devices a layout needs, initial included."""
    return 1 + sum(parts * replicas for (_, _, _, _, parts, replicas) in tasks)


def farm_file(model, tasks, addresses, node_port=12345, initial_port=9999):
    """The farm file (contract format) placing `initial` on addresses[0] and
    the tasks, in order, on the following addresses."""
    need = layout_devices(tasks)
    if len(addresses) < need:
        raise ValueError("layout needs %d devices, the farm has %d" % (need, len(addresses)))
    node = {"initial": ["%s:%d" % (addresses[0], initial_port)]}
    out_tasks = []
    i = 1
    for (name, first, last, method, parts, replicas) in tasks:
        t = {"name": name, "layers": [first, last]}
        if method != "data":
            t["method"] = method
            t["parts"] = parts
        out_tasks.append(t)
        node[name] = ["%s:%d" % (a, node_port) for a in addresses[i:i + parts * replicas]]
        i += parts * replicas
    return {"model": model, "tasks": out_tasks, "node": node}


def mchair_has(mchair, command):
    """Does this mchair binary have subcommand `command`?"""
    r = subprocess.run([mchair, command, "--help"], capture_output=True, text=True)
    return r.returncode == 0 and "unknown command" not in r.stderr
