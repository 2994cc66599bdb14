"""custom.py - `ck install package` for the package entries of this repository.

Every package entry here (lib-openblas-debian, lib-cjson-debian, lib-curl-debian,
lib-microhttpd-debian, lib-avro-c-debian, lib-check-debian,
compiler-cuda-debian, lib-cudnn-debian) points at this file
("use_scripts_from_another_entry") and names its soft entry ("soft_uoa").  The
soft entry's meta says which Debian packages provide the software
("deb_packages", and "deb_packages_jetson" on a Jetson) and where the file is
(soft/mchair-deb-detect/customize.py, imported here, finds it).  setup():

  1. the packages not installed (dpkg-query) are installed with
     `apt-get install -y --no-install-recommends` (as root, or with `sudo -n`),
     after asking on a terminal, elsewhere only with MCHAIR_APT_INSTALL=yes;
     if the lists are stale, `apt-get update` and one more try.  With
     "install_only_if_missing" (CUDA, cuDNN) a toolkit that is already there, from
     NVIDIA's installer or a Jetson's JetPack, is used and nothing is installed;
  2. the file is located as `ck detect soft` would and handed to CK, which records
     the environment with the soft entry's setup (paths, versions, Debian package).

Nothing is built and nothing is written outside the system's package manager:
the packages go where Debian puts them (/usr), so the package has no CK install
folder.  Environment: MCHAIR_APT_INSTALL (yes/no: install without asking, or
never), MCHAIR_APT_GET (default apt-get) and MCHAIR_DPKG_QUERY (default
dpkg-query) name the tools (the CK test replaces them).
"""
import importlib.util
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DETECT = os.path.join(HERE, "..", "..", "soft", "mchair-deb-detect", "customize.py")


def detect_module():
    spec = importlib.util.spec_from_file_location("mchair_deb_detect", DETECT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def is_jetson():
    """True on an NVIDIA Jetson (L4T): JetPack's CUDA and cuDNN packages differ from Debian's."""
    if os.path.exists("/etc/nv_tegra_release"):
        return True
    try:
        with open("/proc/device-tree/model", errors="replace") as fh:
            return "jetson" in fh.read().lower()
    except OSError:
        return False


def installed(pkg):
    tool = os.environ.get("MCHAIR_DPKG_QUERY", "dpkg-query")
    try:
        p = subprocess.run([tool, "-W", "-f=${Status}", pkg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, stdin=subprocess.DEVNULL)
    except OSError:
        return False
    return p.returncode == 0 and p.stdout.strip().endswith("install ok installed")


def apt(args, ck):
    """Runs apt-get ARGS as root (directly, or with sudo -n); returns (status, message)."""
    tool = os.environ.get("MCHAIR_APT_GET", "apt-get")
    if shutil.which(tool) is None:
        return 127, "%s not found: this is not a Debian system" % tool
    cmd = [tool] + args
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return 1, "not root and no sudo"
        cmd = ["sudo", "-n"] + cmd
    ck.out("  running: " + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    rc = subprocess.call(cmd, env=env, stdin=subprocess.DEVNULL)
    return rc, "" if rc == 0 else "%s exited with status %d" % (" ".join(cmd), rc)


def consent(pkgs, ck):
    """May we run apt-get?  A dependency CK resolves by itself lands here too (`ck run` of a GPU key
    on a machine without CUDA would fetch gigabytes): on a terminal we ask, elsewhere only
    MCHAIR_APT_INSTALL=yes allows it."""
    v = os.environ.get("MCHAIR_APT_INSTALL", "").strip().lower()
    if v in ("yes", "y", "1", "no", "n", "0"):
        return v in ("yes", "y", "1")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    r = ck.inp({"text": "  Install the Debian package(s) %s with apt-get (Y/n)? " % " ".join(pkgs)})
    return r.get("string", "").strip().lower() in ("", "y", "yes")


def setup(i):
    ck = i["ck_kernel"]
    cfg = i["cfg"]
    r = ck.access({"action": "load", "module_uoa": "soft", "data_uoa": cfg.get("soft_uoa", "")})
    if r["return"] > 0:
        return r
    soft_uoa = r["data_uoa"]
    scus = r["dict"].get("customize", {})
    det = detect_module()
    jetson = is_jetson()
    pkgs = scus.get("deb_packages_jetson" if jetson else "deb_packages", []) or scus.get("deb_packages", [])
    found = det.locate(scus)
    missing = [p for p in pkgs if not installed(p)]
    if found and scus.get("install_only_if_missing") == "yes":
        ck.out("  %s is already here (%s): using it, installing no Debian package" % (
            scus.get("soft_file", {}).get("linux", soft_uoa), found))
        missing = []
    if missing and not consent(missing, ck):
        return {"return": 1, "error": "the Debian package(s) %s are not installed: install them (sudo apt-get install "
                "%s) and run this again, or let CK install them: MCHAIR_APT_INSTALL=yes, or answer y on a terminal"
                % (" ".join(missing), " ".join(missing))}
    if missing:
        ck.out("  installing the Debian package(s) %s%s" % (" ".join(missing), " (Jetson/JetPack)" if jetson else ""))
        inst = ["install", "-y", "--no-install-recommends"] + missing
        rc, msg = apt(inst, ck)
        if rc != 0 and rc != 127:
            ck.out("  retrying after apt-get update")
            if apt(["update"], ck)[0] == 0:
                rc, msg = apt(inst, ck)
        if rc != 0:
            return {"return": 1, "error": "installing the Debian package(s) %s failed (%s); install them as root "
                    "(sudo apt-get install %s) and run `ck install package` again, or register an existing "
                    "installation with `ck detect soft:%s --full_path=FILE`"
                    % (" ".join(missing), msg, " ".join(missing), soft_uoa)}
    elif pkgs:
        ck.out("  Debian package(s) %s already installed" % " ".join(pkgs))
    fp = det.locate(scus)
    if not fp:
        where = ", ".join(det.expand(scus.get("search", []))) or ", ".join(scus.get("search", []))
        return {"return": 1, "error": "%s not found in %s after installing %s" % (
            scus.get("soft_file", {}).get("linux", "?"), where or "the search folders", " ".join(pkgs) or "nothing")}
    ck.out("  found %s" % fp)
    return {"return": 0, "soft_cfg": {"full_path": fp}}
