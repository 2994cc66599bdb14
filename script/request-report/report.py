#!/usr/bin/env python3
"""report.py - a table and plots of every record of ReQuEST results repositories.

    cd `ck find script:request-report`
    python3 report.py                                   # every CK repository with experiment entries
    python3 report.py --repo ../../../shared/request-results --repo ../.. --out /tmp/report

Reads every experiment entry of the given CK repository folders (--repo, any
number; default: every repository registered in CK that has experiment
entries: the original records once registered, this repository's shipped
records, local), whatever platform and model it holds (records.py), and
writes to --out: report.md (one row per record: label from its meta, seconds
per inference, IPS = 1 / that, our throughput where recorded, energy per
inference where the record has power figures; then every record skipped and
why), report.json, and ips.{png,svg} and energy.{png,svg} (one panel per model,
bars in order of devices; hatched: emulated; grey: records of other systems).
It prints which records it used and which it skipped, and why.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import records  # noqa: E402


def ck_repo_paths():
    """Folders of the CK repositories registered in $CK_REPOS (or ~/CK) that hold experiment/."""
    try:
        import ck.kernel as ck
    except ImportError:
        return None
    r = ck.access({"action": "list", "module_uoa": "repo", "add_info": "yes"})
    if r["return"] > 0:
        return None
    out = []
    for q in r["lst"]:
        rr = ck.access({"action": "where", "module_uoa": "repo", "data_uoa": q["data_uoa"]})
        p = rr.get("path", "") if rr["return"] == 0 else ""
        if p and os.path.isdir(os.path.join(p, "experiment")) and p not in out:
            out.append(p)
    lp = ck.access({"action": "where", "module_uoa": "repo", "data_uoa": "local"})
    if lp["return"] == 0 and os.path.isdir(os.path.join(lp["path"], "experiment")) and lp["path"] not in out:
        out.append(lp["path"])
    return out


def fmt(x, f="%.4f"):
    return f % x if isinstance(x, (int, float)) else "n/a"


def table(used, skipped):
    lines = ["| record | label (from its meta) | s per inference | IPS (1/s) | throughput /s | energy J | "
             "dynamic J | repetitions |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in used:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %d |" % (
            r["name"], r["label"], fmt(r["latency_s"]), fmt(r["ips"], "%.2f"), fmt(r["throughput_ips"], "%.2f"),
            fmt(r["energy_j"], "%.3f"), fmt(r["dynamic_j"], "%.3f"), r["repetitions"]))
    lines += ["", "Skipped:" if skipped else "Skipped: none", ""]
    for root, name, why in skipped:
        lines.append("- %s (%s): %s" % (name, root, why))
    return "\n".join(lines) + "\n"


def order(rows):
    return sorted(rows, key=lambda r: (r["devices"], r["emulated"], r["platform"], r["device"], r["label"]))


def plot(used, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib not installed (Debian: python3-matplotlib): no figures"
    models = sorted({r["model"] for r in used})
    if not models:
        return [], "no record to plot"
    files = []
    palette = ["#3a7dc9", "#e0892c", "#4caf50", "#9c27b0", "#795548", "#00897b", "#c62828", "#5c6bc0"]
    platforms = sorted({r["platform"] for r in used})
    color = {p: palette[i % len(palette)] for i, p in enumerate(platforms)}
    for what, ylabel, get in (("ips", "inferences per second (1 / s per inference)", lambda r: r["ips"]),
                              ("energy", "energy per inference (J): peak power x latency",
                               lambda r: r["energy_j"])):
        most = max(len([r for r in used if r["model"] == m]) for m in models)
        fig, axes = plt.subplots(1, len(models), figsize=((2 + 0.45 * most) * len(models) + 3, 5.5), squeeze=False)
        for ax, model in zip(axes[0], models):
            rs = order([r for r in used if r["model"] == model])
            vals = [get(r) or 0 for r in rs]
            bars = ax.bar(range(len(rs)), vals, color=[color[r["platform"]] for r in rs], edgecolor="#333333")
            for b, r in zip(bars, rs):
                if r["emulated"]:
                    b.set_hatch("//")
                if get(r) is None:
                    ax.text(b.get_x() + b.get_width() / 2, 0, "n/a", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(rs)))
            ticks = ["%s%s\n%s\n%s" % (r["label"].split(", ")[0], " (plan)" if "planner" in r["system"] else "",
                                         r["platform"][:28], (r["library"] or "?").split()[0]) for r in rs]
            ax.set_xticklabels(ticks, rotation=60, ha="right", fontsize=6)
            have = [v for v in vals if v > 0]
            if have and max(have) / min(have) > 30:  # platforms an order of magnitude apart: log scale
                ax.set_yscale("log")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_title(rs[0]["model_label"])
        handles = [plt.Rectangle((0, 0), 1, 1, color=color[p]) for p in platforms]
        fig.legend(handles, [p[:50] for p in platforms], fontsize=7, loc="upper right")
        fig.tight_layout(rect=(0, 0, 0.8, 1))
        for ext in ("png", "svg"):
            p = os.path.join(outdir, "%s.%s" % (what, ext))
            fig.savefig(p, dpi=110)
            files.append(p)
        plt.close(fig)
    return files, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", action="append", default=[], help="CK repository folder with experiment/ (repeat)")
    ap.add_argument("--out", default="request-report", help="output folder (default ./request-report)")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    roots = [os.path.abspath(r) for r in args.repo]
    if not roots:
        roots = ck_repo_paths()
        if roots is None:
            print("report: the CK kernel is not importable: name the repositories with --repo DIR", file=sys.stderr)
            return 2
    used, skipped = records.load(roots)
    os.makedirs(args.out, exist_ok=True)
    files, why = ([], "--no-plots") if args.no_plots else plot(used, args.out)
    text = table(used, skipped)
    with open(os.path.join(args.out, "report.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(args.out, "report.json"), "w") as fh:
        json.dump({"repositories": roots, "used": used, "figures": [os.path.basename(f) for f in files],
                   "skipped": [{"repository": r, "entry": n, "why": w} for r, n, w in skipped]}, fh, indent=1)
    print("report: %d repositor%s: %s" % (len(roots), "y" if len(roots) == 1 else "ies", ", ".join(roots)))
    print("used %d record point(s):" % len(used))
    for r in used:
        print("  %s: %s (%.4f s per inference)" % (r["name"], r["label"], r["latency_s"]))
    print("skipped %d:" % len(skipped))
    for root, name, w in skipped:
        print("  %s (%s): %s" % (name, root, w))
    print("wrote %s%s" % (", ".join([os.path.join(args.out, "report.md"), os.path.join(args.out, "report.json")]
                                    + files), "; no figures: " + why if why else ""))
    return 0 if used else 1


if __name__ == "__main__":
    sys.exit(main())
