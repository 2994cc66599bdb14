#!/usr/bin/env bash
# The main job on a machine with no special hardware: installs, builds and
# runs AlexNet and VGG16 on this device, printing latency, IPS and top-5.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh
bash scripts/build.sh build
for m in alexnet vgg16; do
  echo "== mchair predict --model $m"
  ./build/mchair predict --model "$m" --repeat "${STAT_REPEAT:-5}" --timer "build/tmp-ck-timer-$m.json"
done
