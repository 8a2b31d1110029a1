#!/usr/bin/env bash
# Before/after figures for issue #21 in one run, old and new trees interleaved, so that a slow phase
# of a shared machine falls on both alike:
#   git worktree add /tmp/speed-base 1e1b5e9        # the tree before (once)
#   bench/before_after.sh [/tmp/speed-base] [runs]
# Prints, per tree: plan_bench medians (warm and first plan per workload), cli_startup ratios,
# scale_bench (1x1, 2x1, 4x1 hardware, 4x4 hardware x models) and api_load (8 clients).
# The new tree's catalog cache is built first (HWPLAN_CACHE_DIR=${HWPLAN_CACHE_DIR:-~/.cache/hwplan}).
set -u
BASE=${1:-/tmp/speed-base}
RUNS=${2:-3}
NEW=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
for tree in "$BASE" "$NEW"; do  # the new tree's entry is built here, outside the timings
  (cd "$tree" && PYTHONPATH=$tree $PY -m cli.main plan examples/edge-assistant.yaml >/dev/null 2>&1)
done
run() {  # tree label command...
  local tree=$1 label=$2; shift 2
  echo "== $label ($tree)"
  (cd "$tree" && PYTHONPATH=$tree HWPLAN_BENCH_ROOT=$tree "$@")
}
for round in 1 2; do
  for tree in "$BASE" "$NEW"; do
    label=$([ "$tree" = "$BASE" ] && echo before || echo after)
    run "$tree" "plan_bench $label, round $round" $PY bench/plan_bench.py --runs "$RUNS" 2>&1 | grep -E "^==|^catalog|^median"
  done
done
for tree in "$BASE" "$NEW"; do
  label=$([ "$tree" = "$BASE" ] && echo before || echo after)
  run "$tree" "cli_startup $label" $PY "$NEW/bench/cli_startup.py" --repeat 3 --examples
done
for tree in "$BASE" "$NEW"; do
  label=$([ "$tree" = "$BASE" ] && echo before || echo after)
  run "$tree" "scale_bench $label" $PY "$NEW/bench/scale_bench.py" --runs 1 --only support-chatbot \
    --configs 1x1 2x1 4x1 4x4
done
for tree in "$BASE" "$NEW"; do
  label=$([ "$tree" = "$BASE" ] && echo before || echo after)
  run "$tree" "api_load $label" $PY bench/api_load.py --clients 8 --seconds 8
done
