#!/usr/bin/env bash
# Same-state retrieval of the domain-general code from B_default to rooms of the `rooms` group, which no paired
# student trained on (neither a train nor a target domain), against the train group's room change; writes
# unseen_rooms.jsonl beside this script. Usage: bash docs/results/paired_levers/unseen_rooms.sh
set -e
here=$(dirname "$0")
: > "$here/unseen_rooms.jsonl"
for spec in "darla/SeekAvoid2D-v0 runs/claim_eval100/vision/ada_gvae" "darla/SeekAvoid2D-v0 runs/claim2d_nomix/vision/ada_gvae" \
            "darla/SeekAvoid-v0 runs/claim3d_objw/vision/ada_gvae" "darla/SeekAvoid-v0 runs/claim3d_nomix/vision/ada_gvae"; do
  set -- $spec
  for room in B_alternate B_beige_brown B_purple_teal; do
    python benchmarks/retrieval_noise.py --env "$1" --vision "$2" --pair B_default "$room" --general --states 500 --pool 2000 \
      --draws 1 --pools 1 --out /tmp/unseen_room.json > /dev/null
    python -c "import json; d = json.load(open('/tmp/unseen_room.json')); print(json.dumps({k: d[k] for k in ('env', 'vision', 'pair')} | {'retrieval': d['retrieval_one_pool']['mean'], 'cpu': d['machine']['cpu']}))" >> "$here/unseen_rooms.jsonl"
  done
done
