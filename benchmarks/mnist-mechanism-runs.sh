#!/usr/bin/env bash
# The MNIST mechanism runs (Table 10's MNIST column and tables/focus_controls.md) as they were made: each through
# `python -m methods train <run dir>` (the normal path), one thread, portable CPU kernels (--cpu-isa avx2), two
# workers sharing one queue, references before the runs that need them. Restartable: a finished run is skipped and
# an interrupted one resumes from its last.pt. The committed Baselines' weights (not committed) are rebuilt by a
# verified retraining first (python -m methods verify --install-weights), which also records the verification.
#
#   setsid nohup benchmarks/mnist-mechanism-runs.sh ../shared/datasets > mnist-mechanism.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${1:-../shared/datasets}
SCRATCH=${SCRATCH:-/tmp/focusnet-rebuild}   # the Baselines' verified reruns: kept, so an interrupted one resumes
PY=${PY:-.venv/bin/python}
RUNS=results/paper/mnist/lenet5
QUEUE=$(mktemp)
trap 'rm -f "$QUEUE" "$QUEUE.lock"' EXIT

{
  for seed in 0 1 2; do
    echo "verify $RUNS/baseline/seed$seed"
  done
  for seed in 0 1 2; do
    echo "train $RUNS/baseline~e0/seed$seed"
    echo "train $RUNS/baseline~e1-const/seed$seed"
  done
  for seed in 0 1 2; do
    echo "train $RUNS/focusnet@lenet5.baseline~e0/seed$seed"
    echo "train $RUNS/focusnet@lenet5.baseline~e1-const/seed$seed"
  done
  for seed in 0 1 2; do
    for terms in cls cls+ent cls+att; do
      echo "train $RUNS/focusnet-terms=$terms@lenet5.baseline/seed$seed"
    done
  done
} > "$QUEUE"

next_line() {   # pop the queue's first line, under a lock shared by the workers
  flock "$QUEUE.lock" bash -c 'line=$(head -n 1 "$0"); sed -i 1d "$0"; echo "$line"' "$QUEUE"
}

worker() {
  while true; do
    line=$(next_line)
    [ -z "$line" ] && return
    read -r command dir <<< "$line"
    if [ "$command" = verify ]; then
      [ -e "$dir/model.pt" ] && continue
      # every epoch retrained and compared; the weights go in only if all 200 are identical
      $PY -m methods verify "$dir" --data-root "$DATA_ROOT" --scratch "$SCRATCH" --record --install-weights \
          --cpu-isa avx2 || echo "worker $1: verify $dir FAILED"
    else
      [ -e "$dir/metrics.json" ] && continue
      $PY -m methods train "$dir" --data-root "$DATA_ROOT" --threads 1 --num-workers 0 --cpu-isa avx2 --log "$dir/train.log" \
          || echo "worker $1: train $dir FAILED"
    fi
    echo "worker $1: $(date -u +%FT%TZ) done $command $dir"
  done
}

export OMP_NUM_THREADS=1
worker A & sleep 5; worker B &
wait
