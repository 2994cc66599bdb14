"""customize.py - the detection code shared by the soft entries of this repository.

CK's soft module calls dirs(), version_cmd() and setup() of a soft entry's
customize.py; every soft entry here (lib.openblas.debian, lib.cjson.debian,
lib.curl, lib.microhttpd, lib.avro-c, lib.check, compiler.cuda.debian,
lib.cudnn.debian) points at this file ("use_customize_script_from_another_entry")
and describes itself in its meta's "customize":

  soft_file.linux  the file CK looks for (libcurl.so, libcheck.a, nvcc, ...)
  search           ordered candidate folders; "{multiarch}" is Debian's triplet
                   (x86_64-linux-gnu, aarch64-linux-gnu, ...), "{cuda}" each CUDA
                   toolkit folder (CUDA_HOME, /usr/local/cuda, /usr/local/cuda-X.Y
                   newest first: NVIDIA's packages and a Jetson's JetPack), globs
                   allowed.  The first folder holding soft_file wins, so detection
                   finds one file and never asks which one.
  include_file     the header that must be there (cblas.h, curl/curl.h, cudnn.h)
  include_search   folders tried for it after pkg-config's and before the
                   prefix's include/{multiarch} and include/
  pkg_config       the pkg-config module (version and include folder)
  version_from     "pkg-config", "nvcc", or "header:cudnn_version.h|cudnn.h:MAJOR,MINOR,PATCH"
  deb_packages     the Debian packages that provide it (installed by the package entry)
  env_prefix       CK_ENV_LIB_OPENBLAS, ..., CK_ENV_COMPILER_CUDA

Why one file: Debian's multiarch layout (/usr/lib/<triplet>, headers in
/usr/include/<triplet>, OpenBLAS's variants in openblas-openmp/ and
openblas-pthread/) and the CUDA toolkit's folders are the same problem for every
library.  The environment each entry records: PREFIX (the install prefix),
PREFIX_LIB, PREFIX_INCLUDE (and PREFIX_BIN for nvcc), PREFIX_FILE (the real
file, which ck_run.py compares with what mchair links), PREFIX_PKG_CONFIG_PATH
(the folder of the .pc file), PREFIX_DEB_PACKAGE and PREFIX_DEB_VERSION.
Only the Python standard library is used (CK loads this file itself).
"""
import glob
import os
import platform
import re
import subprocess

DPKG_TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "armhf": "arm-linux-gnueabihf",
                 "i386": "i386-linux-gnu", "ppc64el": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu"}
MACHINE_TRIPLETS = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "armv7l": "arm-linux-gnueabihf",
                    "i686": "i386-linux-gnu", "ppc64le": "powerpc64le-linux-gnu"}


def run(cmd, env=None):
    """(status, stdout) of cmd; (127, '') when it cannot be started."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           env=env, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 127, ""
    return p.returncode, p.stdout


def multiarch():
    """Debian's multiarch triplet of this machine (x86_64-linux-gnu on amd64)."""
    rc, out = run(["dpkg", "--print-architecture"])
    if rc == 0 and out.strip() in DPKG_TRIPLETS:
        return DPKG_TRIPLETS[out.strip()]
    return MACHINE_TRIPLETS.get(platform.machine(), platform.machine() + "-linux-gnu")


def cuda_dirs():
    """CUDA toolkit folders, most likely first: $CUDA_HOME/$CUDA_PATH, /usr/local/cuda (the
    system's choice), /usr/local/cuda-X.Y newest first (NVIDIA's packages, JetPack), /usr
    (Debian's nvidia-cuda-toolkit)."""
    out = []
    for d in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if d:
            out.append(d)

    def vkey(p):
        return [int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", p.rsplit("cuda-", 1)[-1])]
    out += sorted(glob.glob("/usr/local/cuda-*"), key=vkey, reverse=True)
    out.append("/usr")
    seen, res = set(), []
    for d in out:
        if os.path.isdir(d) and os.path.realpath(d) not in seen:
            seen.add(os.path.realpath(d))
            res.append(d)
    return res


def expand(patterns):
    """The existing folders of the "search" patterns, in order, without repeats."""
    trip = multiarch()
    res = []
    for pat in patterns:
        pat = pat.replace("{multiarch}", trip)
        bases = cuda_dirs() if "{cuda}" in pat else [None]
        for b in bases:
            p = pat.replace("{cuda}", b) if b else pat
            for d in sorted(glob.glob(p)) if any(c in p for c in "*?[") else [p]:
                if os.path.isdir(d) and d not in res:
                    res.append(d)
    return res


def soft_file(cus):
    return cus.get("soft_file", {}).get("linux", "")


def locate(cus):
    """The file the entry describes: first candidate folder that holds it, or ''."""
    name = soft_file(cus)
    for d in expand(cus.get("search", [])):
        if name and os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
    return ""


def prefix_of(fp):
    """Install prefix: the parent of the lib/lib64/bin folder above fp (/usr for
    /usr/lib/x86_64-linux-gnu/libcurl.so, /usr/local/cuda-13.0 for .../lib64/libcudnn.so)."""
    d = os.path.dirname(fp)
    while d and d != "/":
        if os.path.basename(d) in ("lib", "lib64", "lib32", "bin"):
            return os.path.dirname(d)
        if os.path.basename(os.path.dirname(d)) == "targets":  # /usr/local/cuda/targets/x86_64-linux/lib
            return os.path.dirname(os.path.dirname(d))
        d = os.path.dirname(d)
    return os.path.dirname(os.path.dirname(fp))


def pkg_config_env(fp):
    """Environment whose PKG_CONFIG_PATH starts with fp's own pkgconfig folder (OpenBLAS's
    variants keep theirs beside the library)."""
    env = dict(os.environ)
    pc = os.path.join(os.path.dirname(fp), "pkgconfig")
    if os.path.isdir(pc):
        env["PKG_CONFIG_PATH"] = pc + (":" + env["PKG_CONFIG_PATH"] if env.get("PKG_CONFIG_PATH") else "")
    return env


def pc_dir(fp, module):
    """The folder of module's .pc file as pkg-config finds it for fp, or ''."""
    for d in (os.path.join(os.path.dirname(fp), "pkgconfig"),):
        if os.path.isfile(os.path.join(d, module + ".pc")):
            return d
    rc, out = run(["pkg-config", "--variable=pcfiledir", module], env=pkg_config_env(fp))
    return out.strip() if rc == 0 else ""


def include_dir(fp, cus):
    """The folder holding include_file (as the compiler's -I would name it), or ''."""
    name = cus.get("include_file", "")
    if not name:
        return ""
    cands = []
    mod = cus.get("pkg_config", "")
    if mod:  # what the build's pkg-config will say first (the -I of the OpenBLAS variant found)
        rc, out = run(["pkg-config", "--cflags-only-I", mod], env=pkg_config_env(fp))
        if rc == 0:
            cands += [x[2:] for x in out.split() if x.startswith("-I")]
        rc, out = run(["pkg-config", "--variable=includedir", mod], env=pkg_config_env(fp))
        if rc == 0 and out.strip():
            cands.append(out.strip())
    cands += expand(cus.get("include_search", []))
    pre = prefix_of(fp)
    cands += [os.path.join(pre, "include", multiarch()), os.path.join(pre, "include")]
    for d in cands:
        if os.path.isfile(os.path.join(d, name)):
            return os.path.normpath(d)
    return ""


def deb_owner(fp):
    """(Debian package, its version) owning fp or its real file; ('', '') if none."""
    for p in (fp, os.path.realpath(fp)):  # the -dev package's symlink first, then the real file
        rc, out = run(["dpkg-query", "-S", p])
        if rc == 0 and out.strip():
            # "libcurl4-openssl-dev:amd64: /usr/lib/...", "check: /usr/...", "a, b: /usr/..."
            pkg = out.splitlines()[0].split(": ", 1)[0].split(",")[0].strip()
            rc, ver = run(["dpkg-query", "-W", "-f=${Version}", pkg])
            return pkg.split(":")[0], ver.strip() if rc == 0 else ""
    return "", ""


def upstream(deb_version):
    """0.3.21 from 0.3.21+ds-4, 7.88.1 from 7.88.1-10+deb12u15."""
    v = deb_version.split(":", 1)[-1]
    v = v.rsplit("-", 1)[0] if "-" in v else v
    return re.split(r"[+~]", v)[0]


def header_version(fp, cus, spec):
    """Version from #defines: spec "cudnn_version.h|cudnn.h:CUDNN_MAJOR,CUDNN_MINOR,CUDNN_PATCHLEVEL"."""
    files, macros = spec.split(":", 1)
    inc = include_dir(fp, cus)
    dirs = [inc] if inc else []
    dirs += expand(cus.get("include_search", [])) + [os.path.join(prefix_of(fp), "include")]
    for d in dirs:
        for f in files.split("|"):
            p = os.path.join(d, f)
            if not os.path.isfile(p):
                continue
            with open(p, errors="replace") as fh:
                text = fh.read()
            parts = []
            for m in macros.split(","):
                x = re.search(r"#define\s+%s\s+(\d+)" % re.escape(m), text)
                if not x:
                    break
                parts.append(x.group(1))
            if len(parts) == len(macros.split(",")):
                return ".".join(parts)
    return ""


def version_of(fp, cus):
    """(version, error) of the file fp described by cus."""
    how = cus.get("version_from", "pkg-config")
    ver = ""
    if how == "pkg-config" and cus.get("pkg_config"):
        rc, out = run(["pkg-config", "--modversion", cus["pkg_config"]], env=pkg_config_env(fp))
        ver = out.strip() if rc == 0 else ""
    elif how == "nvcc":
        rc, out = run([fp, "--version"])
        m = re.search(r"release [\d.]+, V(\d+(?:\.\d+)+)", out)
        ver = m.group(1) if m else ""
    elif how.startswith("header:"):
        ver = header_version(fp, cus, how[len("header:"):])
    if not ver:
        ver = upstream(deb_owner(fp)[1])
    if not ver:
        return "", "cannot tell the version of %s (%s)" % (fp, how)
    return ver, ""


# ------------------------------------------------------------- CK soft hooks

def dirs(i):
    """Search only the folder that holds the file (see locate); none: a folder without it, so
    that CK reports "not found" instead of searching /usr, /opt and $HOME."""
    cus = i.get("cfg", {}).get("customize", {})
    fp = locate(cus)
    return {"return": 0, "dirs": [os.path.dirname(fp) if fp else i["soft_entry_path"]]}


def version_cmd(i):
    ver, err = version_of(i["full_path"], i.get("customize", {}))
    if err:
        return {"return": 1, "error": err}
    return {"return": 0, "cmd": "", "version": ver}


def setup(i):
    """Fill the entry's paths and environment (see the module comment)."""
    cus = i["customize"]
    env = i["env"]
    fp = cus.get("full_path", "")
    ep = cus.get("env_prefix", "")
    if not fp or not os.path.exists(fp):
        return {"return": 1, "error": "%s: file %r not found" % (ep, fp)}
    pre = prefix_of(fp)
    # Not path_install: CK's package module would take it as the package's install folder on a
    # reinstall and write its ck-install.json there (/usr, /usr/local/cuda).
    cus["install_prefix"] = pre
    env[ep] = pre
    bat = ""
    env[ep + "_FILE"] = os.path.realpath(fp)
    if cus.get("kind") == "cuda-toolkit":
        cus["path_bin"] = os.path.dirname(fp)
        env[ep + "_NVCC"] = fp
        libdir = ""
        for d in [os.path.join(pre, "lib64"), os.path.join(pre, "lib")] + \
                 glob.glob(os.path.join(pre, "targets", "*", "lib")) + ["/usr/lib/" + multiarch()]:
            if os.path.isfile(os.path.join(d, "libcudart.so")):
                libdir = d
                break
        if not libdir:
            return {"return": 1, "error": "CUDA toolkit at %s: libcudart.so not found in lib64, lib, targets/*/lib "
                    "or /usr/lib/%s" % (pre, multiarch())}
        cus["path_lib"] = libdir
        inc = include_dir(fp, dict(cus, include_file="cuda_runtime.h"))
        bat = "export PATH=$%s_BIN:$PATH\n" % ep
    else:
        cus["path_lib"] = os.path.dirname(fp)
        inc = include_dir(fp, cus)
        name = os.path.basename(fp)
        env[ep + ("_STATIC_NAME" if name.endswith(".a") else "_DYNAMIC_NAME")] = name
        if cus.get("pkg_config"):
            env[ep + "_PKG_CONFIG"] = cus["pkg_config"]
            d = pc_dir(fp, cus["pkg_config"])
            if d:
                env[ep + "_PKG_CONFIG_PATH"] = d
    if not inc:
        need = "cuda_runtime.h" if cus.get("kind") == "cuda-toolkit" else cus.get("include_file", "")
        return {"return": 1, "error": "%s found at %s, but not its header %s (install the Debian package %s)" % (
            os.path.basename(fp), fp, need, " ".join(cus.get("deb_packages", [])) or "with the headers")}
    cus["path_include"] = inc
    pkg, ver = deb_owner(fp)
    env[ep + "_DEB_PACKAGE"] = pkg
    env[ep + "_DEB_VERSION"] = ver
    cus["deb_package"] = pkg
    cus["deb_version"] = ver
    cus["soft_extra_name"] = " (Debian %s %s)" % (pkg, ver) if pkg else " (%s, not from a Debian package)" % pre
    if cus.get("skip_add_to_ld_path") != "yes":  # libraries outside the loader's default folders (CUDA, cuDNN)
        bat += "export LIBRARY_PATH=$%s_LIB:$LIBRARY_PATH\nexport LD_LIBRARY_PATH=$%s_LIB:$LD_LIBRARY_PATH\n" % (ep, ep)
    return {"return": 0, "bat": bat}
