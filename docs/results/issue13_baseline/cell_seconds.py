"""Each finished cell's seconds in a run folder of ``darla reproduce`` or ``darla demo`` (any commit's: it reads only
the records under ``cells/``), when it finished counted from the first cell's start, and the wall-clock and CPU share
that ``/usr/bin/time -v`` wrote into the run's log.

Usage: python docs/results/issue13_baseline/cell_seconds.py RUN_FOLDER LOG --commit C --command "..." --out FILE.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from darla.device import describe_machine
from darla.files import write_json_atomic
from darla.runner import CELLS_DIR


def main() -> None:
    """Write the run's cell seconds and its timing as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records = {str(p.relative_to(args.run / CELLS_DIR).with_suffix("")): json.loads(p.read_text())
               for p in sorted((args.run / CELLS_DIR).rglob("*.json"))}
    cells = {name: r["seconds"] for name, r in records.items()}
    start = min(r["finished"] - r["seconds"] for r in records.values())
    finished = {name: round(r["finished"] - start, 1) for name, r in records.items()}
    log = args.log.read_text(errors="replace")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", log)
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", log)
    report = {"commit": args.commit, "command": args.command, "machine": describe_machine(),
              "wall_clock": wall.group(1) if wall else None, "cpu_percent": int(cpu.group(1)) if cpu else None,
              "cell_seconds": cells, "cell_seconds_sum": round(sum(cells.values()), 1),
              "finished_after_first_start_s": finished}
    write_json_atomic(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k not in ("cell_seconds", "finished_after_first_start_s")}))


if __name__ == "__main__":
    main()
