#!/usr/bin/env python3
"""skipped.py BUILD... - the tests ctest skipped in these builds' last runs, and why.

For each build folder it reads ctest's console log (BUILD/ctest-console.log,
as scripts/test.sh tees it: "The following tests did not run: ... (Skipped)")
and the output of each skipped test in BUILD/Testing/Temporary/LastTest.log
(a test that cannot run prints "skipped: <why>" and exits with its
SKIP_RETURN_CODE).  It prints every skipped test with its reason and exits 1
if one was skipped that this machine can run: a skip is accepted only when
its reason names something this machine really lacks (CAPABILITIES: checked
here, not taken on the test's word), e.g. a GPU, root, cgroup v1, the arm64
cross tools.  A skip is never a pass.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "farm"))
import farmlib  # noqa: E402  (the farm tests' own check for ::1)


def _has_gpu():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _has_netns():
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# (words in the skip reason, does this machine have it?)
CAPABILITIES = (
    (r"GPU|CUDA|cuDNN", _has_gpu),
    (r"\broot\b", lambda: os.geteuid() == 0),
    (r"cgroup v1", lambda: os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")),
    (r"network namespaces", _has_netns),
    (r"IPv6 loopback", farmlib.have_ipv6_loopback),
    (r"`ip` and `tc`", lambda: bool(shutil.which("ip") and shutil.which("tc"))),
    (r"aarch64-linux-gnu-gcc|qemu-aarch64|arm64 librar", lambda: bool(shutil.which("aarch64-linux-gnu-gcc")
                                                                       and shutil.which("qemu-aarch64"))),
)


def machine_lacks(why):
    """True when the reason names a capability this machine does not have."""
    return any(re.search(p, why) and not has() for p, has in CAPABILITIES)


def reason(lasttest, name):
    """The "skipped: ..." line of test `name`'s output in LastTest.log."""
    m = re.search(r"^\d+/\d+ Test: %s\n(.*?)<end of output>" % re.escape(name), lasttest, re.M | re.S)
    why = re.search(r"^skipped: (.*)$", m.group(1), re.M) if m else None
    return why.group(1) if why else "(no reason printed)"


def main(builds):
    skipped = []
    for b in builds:
        console = os.path.join(b, "ctest-console.log")
        if not os.path.exists(console):
            continue
        text = open(console, errors="replace").read()
        block = text.split("The following tests did not run:")[-1] if "did not run:" in text else ""
        lt_path = os.path.join(b, "Testing", "Temporary", "LastTest.log")
        lasttest = open(lt_path, errors="replace").read() if os.path.exists(lt_path) else ""
        for m in re.finditer(r"^\s*\d+ - (\S+) \(Skipped\)", block, re.M):
            skipped.append((b, m.group(1), reason(lasttest, m.group(1))))
    if not skipped:
        print("== skipped tests: none")
        return 0
    print("== skipped tests:")
    bad = 0
    for b, name, why in skipped:
        allowed = machine_lacks(why)
        bad += not allowed
        print("  %-12s %-34s %s%s" % (b, name, why, "" if allowed else "   <- this machine can run it: FAIL"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
