#!/usr/bin/env bash
# The main job on a machine with no special hardware: installs, builds, runs
# AlexNet and VGG16 on this device, then the artifact's AlexNet farm-5 as a
# one-machine farm (four task nodes on 127.0.0.1, each its own process) and
# prints the farm's end-to-end latency, IPS and throughput.  The nodes are
# started and stopped with the CK program's own run step (ck_run.py), exactly
# as `ck run ... --cmd_key=benchmark-alexnet-farm-5-nodes[-start-server]` does.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh
bash scripts/build.sh build
repeat=${STAT_REPEAT:-5}
for m in alexnet vgg16; do
  echo "== single device: mchair predict --model $m --repeat $repeat"
  ./build/mchair predict --model "$m" --repeat "$repeat" --quiet
done

echo "== one-machine farm-5 (AlexNet): machine/farm-5-local.json"
export MCHAIR_BIN="$here/build/mchair" MCHAIR_FARM="$here/machine/farm-5-local.json"
export MCHAIR_RUN_DIR=$(mktemp -d) STAT_REPEAT=${STAT_REPEAT:-20}
run="$here/program/request-iot-benchmark/ck_run.py"
work=$(mktemp -d)
stop() { (cd "$work" && python3 "$run" benchmark-alexnet-farm-5-nodes-stop-server >/dev/null) || true
         rm -rf "$work" "$MCHAIR_RUN_DIR"; }
trap stop EXIT
cd "$work"
python3 "$run" benchmark-alexnet-farm-5-nodes-start-server
python3 "$run" benchmark-alexnet-farm-5-nodes
