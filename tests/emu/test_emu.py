#!/usr/bin/env python3
"""test_emu.py - the emulated farm (`mchair farm`, src/emu/emulate.c) on this machine.

    test_emu.py --mchair build/mchair [--part farm|small-farm|all]

Part `farm` (needs nothing but this machine): a 3-device farm comes up (and
again: `up` twice), each device's address answers a TCP echo from another
device, a device's link holds a transfer to its tbf rate (no faster, +20%
for the burst; the tbf held packets back) and so does its receiving side (two
senders into one device), a device's cgroup has its CPU quota and a busy loop
gets no more (rates and shares reached are printed, not asserted: they
depend on the host's speed and load), a device's memory limit stops a
process that goes over it, `farm exec` errors name what is wrong, `farm down`
(twice) leaves no namespace, veth, bridge, qdisc or cgroup and the root
namespace's links and qdiscs are as before.  Also: without root the command
says so; a failing `tc` makes `up` fail naming the command and its output and
remove what it made; a test that fails in the middle (a child run with
--inject-failure) leaves nothing behind.

Part `small-farm` runs AlexNet on the 3-device farm with `mchair node` and
`mchair initial` (farm-contract.md): initial in device 0, conv1..flatten in
device 1, fc1..fc3 in device 2, and checks that all 5 frames came back, none
lost or dropped, and CK's timer file was written.

The only skip: a machine without root, network namespaces, cgroup v1 or
iproute2 prints the reason and exits 77 (ctest: skipped).  Every farm this test makes is named
emt<pid>; farms of earlier runs of this test whose process is gone are
removed first.  Traffic stays inside the farm's namespaces (10.77.0.0/24).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "emu"))
import farmlib  # noqa: E402

LINK_MBIT = 20
CPU = 0.25
MEM_MB = 128

RECV_PY = textwrap.dedent("""
    import json, socket, sys, threading, time
    port, nconn = int(sys.argv[1]), int(sys.argv[2])
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(nconn)
    print("listening", flush=True)
    total = [0]; first = [None]; last = [None]; lock = threading.Lock()
    def drain(c):
        while True:
            b = c.recv(65536)
            if not b: break
            now = time.monotonic()
            with lock:
                if first[0] is None: first[0] = now
                last[0] = now; total[0] += len(b)
        c.close()
    ts = []
    for _ in range(nconn):
        c, _ = s.accept(); t = threading.Thread(target=drain, args=(c,)); t.start(); ts.append(t)
    for t in ts: t.join()
    print(json.dumps({"bytes": total[0], "seconds": last[0] - first[0]}), flush=True)
""")

SEND_PY = textwrap.dedent("""
    import socket, sys, time
    addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for i in range(100):
        try: s = socket.create_connection((addr, port), timeout=2); break
        except OSError: time.sleep(0.1)
    buf = b"x" * 65536
    while n > 0:
        s.sendall(buf[:min(n, len(buf))]); n -= min(n, len(buf))
    s.close()
""")

ECHO_PY = textwrap.dedent("""
    import socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], 7000)); s.listen(4)
    while True:
        c, _ = s.accept(); c.sendall(c.recv(1024)); c.close()
""")

ASK_PY = textwrap.dedent("""
    import socket, sys, time
    msg = sys.argv[2].encode()
    for i in range(200):
        try:
            s = socket.create_connection((sys.argv[1], 7000), timeout=2); break
        except OSError: time.sleep(0.05)
    else: sys.exit("cannot connect to %s:7000" % sys.argv[1])
    s.sendall(msg); print(s.recv(1024).decode())
""")

BUSY_PY = textwrap.dedent("""
    import json, time
    t0 = time.monotonic(); c0 = time.process_time()
    while time.monotonic() - t0 < 2.0: pass
    print(json.dumps({"share": (time.process_time() - c0) / (time.monotonic() - t0)}))
""")

HOG_PY = "x = b'x' * (300 << 20); print('allocated', len(x))"


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, ok, what, detail=""):
        print("%s: %s%s" % ("PASS" if ok else "FAIL", what, (" (%s)" % detail) if detail else ""), flush=True)
        if not ok:
            self.failed.append(what)
        return ok


def write_scripts(tmp):
    paths = {}
    for name, src in (("recv", RECV_PY), ("send", SEND_PY), ("echo", ECHO_PY), ("ask", ASK_PY),
                      ("busy", BUSY_PY), ("hog", HOG_PY)):
        paths[name] = os.path.join(tmp, name + ".py")
        with open(paths[name], "w") as f:
            f.write(src)
    return paths


def remove_stale_farms(mchair):
    """Farms emt<pid> of earlier runs whose process is gone (killed runs)."""
    names = set()
    for d in (farmlib.NETNS_DIR, farmlib.CGROUP_ROOT + "/cpu", farmlib.CGROUP_ROOT + "/memory"):
        if os.path.isdir(d):
            for n in os.listdir(d):
                m = re.match(r"^(?:mc|mchair)-(emt(\d+))-", n)
                if m and not os.path.exists("/proc/%s" % m.group(2)):
                    names.add(m.group(1))
    for n in sorted(names):
        print("removing stale farm %s of an earlier run" % n)
        subprocess.run([mchair, "farm", "down", "--name", n], timeout=120)


def py():
    return sys.executable


def tbf_overlimits(name, dev):
    """Packets device dev's egress tbf held back so far (tc -s)."""
    out = subprocess.run(["tc", "-s", "-n", "mc-%s-d%d" % (name, dev), "qdisc", "show", "dev", "eth0"],
                         capture_output=True, text=True).stdout
    m = re.search(r"overlimits (\d+)", out)
    return int(m.group(1)) if m else -1


def transfer(farm, scripts, receiver, senders, nbytes, port):
    """Bytes/s measured by the receiver for `senders` sending nbytes each at once."""
    rp = farm.popen(receiver, [py(), scripts["recv"], str(port), str(len(senders))], unlimited=True,
                    stdout=subprocess.PIPE, text=True)
    assert rp.stdout.readline().strip() == "listening"
    addr = farm.addresses()[receiver]
    sp = [farm.popen(s, [py(), scripts["send"], addr, str(port), str(nbytes)], unlimited=True) for s in senders]
    for p in sp:
        p.wait(timeout=60)
    out = rp.stdout.readline()
    rp.wait(timeout=10)
    r = json.loads(out)
    return r["bytes"] * 8 / r["seconds"], r


def part_farm(args, c, scripts, name):
    before = farmlib.root_network_snapshot()
    farm = farmlib.Farm(args.mchair, name)
    try:
        st = farm.up(3, link="%dmbit" % LINK_MBIT, cpu=CPU, mem=MEM_MB)
        c.check(st["devices"] == 3 and farm.addresses() == ["10.77.0.1", "10.77.0.2", "10.77.0.3"],
                "farm up writes 3 devices with addresses 10.77.0.1-3 to the state file", str(farm.addresses()))
        c.check(st["node"]["initial"] == ["10.77.0.1"] and st["node"]["devices"] == ["10.77.0.2", "10.77.0.3"],
                "the state file's node list has initial on device 0 and the rest as devices")
        # up twice: the first farm's processes are stopped and the farm made afresh
        stray = farm.popen(1, ["sleep", "300"])
        time.sleep(0.3)
        st = farm.up(3, link="%dmbit" % LINK_MBIT, cpu=CPU, mem=MEM_MB)
        stray.wait(timeout=10)
        c.check(stray.returncode != 0 and len(farmlib.leftovers(name)) == 4 + 6,
                "farm up twice makes the farm afresh (old processes stopped, 4 namespaces + 6 cgroups)",
                "leftovers=%d" % len(farmlib.leftovers(name)))
        qd = subprocess.run(["tc", "-n", "mc-%s-d0" % name, "qdisc", "show", "dev", "eth0"],
                            capture_output=True, text=True).stdout
        c.check("tbf" in qd and "20Mbit" in qd, "device 0's eth0 has a 20Mbit tbf qdisc", qd.strip())

        # each device's address answers a TCP echo asked from another device
        for k in range(3):
            farm.popen(k, [py(), scripts["echo"], farm.addresses()[k]])
        for k in range(3):
            src = (k + 1) % 3
            r = farm.run(src, [py(), scripts["ask"], farm.addresses()[k], "hello d%d from d%d" % (k, src)], timeout=60)
            c.check(r.returncode == 0 and r.stdout.strip() == "hello d%d from d%d" % (k, src),
                    "device %d (%s) answers an echo from device %d" % (k, farm.addresses()[k], src),
                    (r.stdout + r.stderr).strip())
        farm.stop_all()

        # link rate: what holds on any machine is the ceiling (the shaping
        # itself) and that the tbf held packets back; how close a transfer
        # comes to the rate depends on the host's speed and load, so it is
        # printed, not asserted (the emulated experiment measures it).
        over0 = tbf_overlimits(name, 0)
        bps, r = transfer(farm, scripts, 1, [0], 4 << 20, 5001)
        over1 = tbf_overlimits(name, 0)
        print("one sender: %.2f Mbit/s on a %d Mbit/s link" % (bps / 1e6, LINK_MBIT), flush=True)
        c.check(0 < bps <= 1.2 * LINK_MBIT * 1e6 and over1 > over0,
                "4 MB from device 0 to device 1 go no faster than the %d Mbit/s link (+20%%: the burst) and "
                "device 0's tbf held packets back" % LINK_MBIT,
                "%.2f Mbit/s, tbf overlimits %d -> %d" % (bps / 1e6, over0, over1))
        bps, r = transfer(farm, scripts, 1, [0, 2], 3 << 20, 5002)
        print("two senders into one device: %.2f Mbit/s" % (bps / 1e6), flush=True)
        c.check(0 < bps <= 1.2 * LINK_MBIT * 1e6,
                "two senders into device 1 together are held to its %d Mbit/s receive rate (<= +20%%)" % LINK_MBIT,
                "%.2f Mbit/s" % (bps / 1e6))

        # CPU quota: the cgroup's quota is the configured fraction, and a busy
        # loop never gets more than it (a loaded host may give it less)
        quota = int(open(farm.cgroup(2, "cpu") + "/cpu.cfs_quota_us").read())
        period = int(open(farm.cgroup(2, "cpu") + "/cpu.cfs_period_us").read())
        stat = farm.cgroup(2, "cpu") + "/cpu.stat"
        thr0 = int(re.search(r"nr_throttled (\d+)", open(stat).read()).group(1))
        r = farm.run(2, [py(), scripts["busy"]], timeout=60)
        share = json.loads(r.stdout)["share"] if r.returncode == 0 else -1
        thr1 = int(re.search(r"nr_throttled (\d+)", open(stat).read()).group(1))
        print("busy loop in device 2: %.3f CPU, throttled %d times" % (share, thr1 - thr0), flush=True)
        c.check(abs(quota / period - CPU) < 1e-3 and 0 < share <= 1.2 * CPU,
                "device 2's quota is %.2f CPU and a busy loop in it gets no more" % CPU,
                "quota %d/%d us, share %.3f" % (quota, period, share))

        # memory limit
        r = farm.run(1, [py(), scripts["hog"]], timeout=60)
        maxu = int(open(farm.cgroup(1, "memory") + "/memory.max_usage_in_bytes").read())
        fails = int(open(farm.cgroup(1, "memory") + "/memory.failcnt").read())
        c.check(r.returncode != 0 and maxu <= MEM_MB << 20 and fails > 0,
                "a process allocating 300 MB in a %d MB device is stopped" % MEM_MB,
                "exit %d, max usage %.1f MB, failcnt %d" % (r.returncode, maxu / 2**20, fails))

        # exec errors
        r = farm.run(0, ["/nonexistent/program"], timeout=30)
        c.check(r.returncode != 0 and "cannot run /nonexistent/program" in r.stderr,
                "farm exec of a missing program says it cannot run it", r.stderr.strip())
        r = subprocess.run([args.mchair, "farm", "exec", "--name", name, "7", "--", "true"],
                           capture_output=True, text=True, timeout=30)
        c.check(r.returncode != 0 and "mc-%s-d7 does not exist" % name in r.stderr,
                "farm exec on a device the farm does not have names the missing namespace", r.stderr.strip())
        r = farm.status()
        c.check(r.returncode == 0 and "10.77.0.3" in r.stdout, "farm status lists the devices", "")
    finally:
        farm.down()
    c.check(farmlib.leftovers(name) == [], "farm down leaves no namespace or cgroup", str(farmlib.leftovers(name)))
    after = farmlib.root_network_snapshot()
    c.check(after == before, "the root namespace's links and qdiscs are as before the farm",
            "" if after == before else "%s -> %s" % (before, after))
    c.check(not os.path.exists("/run/mchair/farm-%s.json" % name), "farm down removes the state file")
    r = subprocess.run([args.mchair, "farm", "down", "--name", name], capture_output=True, text=True)
    c.check(r.returncode == 0, "farm down twice is safe", r.stdout.strip() + r.stderr.strip())
    r = subprocess.run([args.mchair, "farm", "status", "--name", name], capture_output=True, text=True)
    c.check(r.returncode == 3 and "not up" in r.stdout, "farm status says a removed farm is not up", r.stdout.strip())


def part_errors(args, c, name):
    # Without root: a clear message.
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", args.mchair, "farm", "up",
                        "--devices", "1", "--name", name], capture_output=True, text=True)
    c.check(r.returncode != 0 and "needs root" in r.stderr, "farm up without root stops with a clear message",
            r.stderr.strip())
    # A failing `tc`: `up` fails naming the command and its output, and removes what it made.
    with tempfile.TemporaryDirectory() as fake:
        with open(os.path.join(fake, "tc"), "w") as f:
            f.write('#!/bin/sh\n[ "$1" = -V ] && exit 0\necho "fake tc failure" >&2\nexit 2\n')
        os.chmod(os.path.join(fake, "tc"), 0o755)
        env = dict(os.environ, PATH=fake + ":" + os.environ.get("PATH", ""))
        r = subprocess.run([args.mchair, "farm", "up", "--devices", "2", "--link", "10mbit", "--name", name],
                           capture_output=True, text=True, env=env, timeout=120)
    c.check(r.returncode != 0 and ("tc -n mc-%s-d0 qdisc replace dev eth0" % name) in r.stderr
            and "fake tc failure" in r.stderr and "exit 2" in r.stderr,
            "a failing tc makes farm up fail naming the command, its exit status and output", r.stderr.strip())
    c.check(farmlib.leftovers(name) == [], "a failed farm up removes everything it made",
            str(farmlib.leftovers(name)))
    # A test that fails in the middle cleans up (the child raises after starting processes in devices).
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--mchair", args.mchair, "--inject-failure",
                        "--name", name], capture_output=True, text=True, timeout=120)
    c.check(r.returncode != 0 and "injected failure" in r.stderr and farmlib.leftovers(name) == [],
            "a test that fails in the middle leaves no namespace or cgroup",
            "child exit %d, leftovers %s" % (r.returncode, farmlib.leftovers(name)))


def inject_failure(args, scripts):
    farm = farmlib.Farm(args.mchair, args.name)
    try:
        farm.up(2, link="10mbit", cpu=0.2)
        farm.popen(0, [py(), scripts["echo"], "10.77.0.1"])
        farm.popen(1, ["sleep", "300"])
        time.sleep(0.5)
        raise RuntimeError("injected failure in the middle of a test")
    finally:
        farm.down()


def part_small_farm(args, c, name, tmp):
    missing = [cmd for cmd in ("node", "initial") if not farmlib.mchair_has(args.mchair, cmd)]
    if missing:
        c.check(False, "a small farm runs on the emulated farm",
                "this mchair has no `%s` command (farm-contract.md; the farm runtime provides it)"
                % "`, `".join(missing))
        return
    farm = farmlib.Farm(args.mchair, name)
    try:
        farm.up(3, link="62mbit", cpu=0.5, mem=1024)
        tasks = [("block1", "conv1", "flatten", "data", 1, 1), ("block2", "fc1", "fc3", "data", 1, 1)]
        ff = farmlib.farm_file("alexnet", tasks, farm.addresses())
        path = os.path.join(tmp, "farm-3.json")
        with open(path, "w") as f:
            json.dump(ff, f, indent=1)
        for k in (1, 2):
            farm.popen(k, [args.mchair, "node", "--farm", path, "--listen", "%s:12345" % farm.addresses()[k],
                           "--threads", "1"])
        report = os.path.join(tmp, "initial.json")
        timer = os.path.join(tmp, "tmp-ck-timer.json")
        r = farm.run(0, [args.mchair, "initial", "--farm", path, "--repeat", "5", "--json", report,
                         "--timer", timer, "--listen", "%s:9999" % farm.addresses()[0]], timeout=300)
        et = json.load(open(timer)).get("execution_time", 0) if os.path.exists(timer) else 0
        rep = json.load(open(report)) if os.path.exists(report) else {}
        c.check(r.returncode == 0 and rep.get("done") == 5 and not rep.get("lost") and not rep.get("dropped")
                and et > 0, "AlexNet on a 3-device emulated farm (initial, conv1..flatten, fc1..fc3) "
                "returns all 5 frames, none lost or dropped, and writes CK's timer",
                "exit %d, done %s, lost %s, execution_time %s; %s" %
                (r.returncode, rep.get("done"), rep.get("lost"), et, r.stderr.strip()[-300:]))
    finally:
        farm.down()
    c.check(farmlib.leftovers(name) == [], "farm down after the small farm leaves nothing",
            str(farmlib.leftovers(name)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--part", default="farm", choices=["farm", "small-farm", "all"])
    ap.add_argument("--inject-failure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.mchair = os.path.abspath(args.mchair)
    with tempfile.TemporaryDirectory(prefix="mchair-emu-") as tmp:
        os.chmod(tmp, 0o755)
        scripts = write_scripts(tmp)
        if args.inject_failure:
            inject_failure(args, scripts)
            return 0
        remove_stale_farms(args.mchair)
        probe = farmlib.Farm(args.mchair, "emt%d" % os.getpid())
        try:
            probe.up(1)
        except farmlib.FarmUnsupported as e:
            print("skipped: this machine cannot run an emulated farm: %s" % e)
            return 77  # SKIP_RETURN_CODE: ctest shows it skipped, scripts/skipped.py checks the reason
        finally:
            probe.down()
        c = Checks()
        if args.part in ("farm", "all"):
            part_errors(args, c, "emt%d" % os.getpid())
            part_farm(args, c, scripts, "emt%d" % os.getpid())
        if args.part in ("small-farm", "all"):
            part_small_farm(args, c, "emt%d" % os.getpid(), tmp)
        print("%d checks failed: %s" % (len(c.failed), "; ".join(c.failed)) if c.failed else "all checks passed")
        return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
