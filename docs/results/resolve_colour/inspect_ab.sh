#!/bin/bash
# bench_inspect.py on SeekAvoid-v0 (an untrained DARLA-size VAE, the quick budget's report), alternated between a
# worktree of the commit before the colour-only resolve and this tree, two rounds; each run's JSON and the seconds.
#   git worktree add /tmp/before 0ed1031 && BEFORE=/tmp/before OUT=runs/ab_inspect bash docs/results/resolve_colour/inspect_ab.sh
set -e
HERE=$(cd "$(dirname "$0")/../../.." && pwd)
BEFORE=${BEFORE:-/tmp/before}
OUT=$(realpath -m "${OUT:-runs/ab_inspect}")
mkdir -p "$OUT"
for r in 1 2; do
  for side in before after; do
    tree=$([ $side = before ] && echo "$BEFORE" || echo "$HERE")
    (cd "$tree" && PYTHONPATH="$tree" python benchmarks/bench_inspect.py --out "$OUT/${side}_$r.json" > "$OUT/${side}_$r.log" 2>&1)
    echo "$side $r $(python -c "import json; print(round(json.load(open('$OUT/${side}_$r.json'))['seconds'], 1))")" | tee -a "$OUT/times.txt"
  done
done
