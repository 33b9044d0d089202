#!/usr/bin/env bash
# A CPU training series: two workers, one thread each, sharing one live queue of lines
#
#   <commit> train <run dir>
#   <commit> verify <run dir>          (retrain a committed run whose weights are not here; install them if identical)
#   <commit> verify <run dir> <epochs> (retrain its first epochs and record the check in its verified.json: pin the
#                                       line at a commit that holds the record; collect.sh brings the check back)
#
# Each line runs `python -m methods ...` inside a git worktree pinned at <commit> ($WORKTREES/<commit>, made on first
# use): the commit that defines the run's protocol, so refactors on main never move code under a run in flight.
# Results stay in that worktree until copied to main and committed (benchmarks/series/collect.sh). Runs go through the normal path, with portable
# CPU kernels (--cpu-isa avx2). Restartable: a finished run (in its worktree, or committed in this checkout) is skipped
# and an interrupted one resumes from its last.pt. On a fresh host (worktrees gone) a committed reference's record is
# copied into the new worktree, and the trainer rebuilds its weights by a verified retraining.
# A run with a reference waits for that reference's weights when the reference is itself in the queue, so two workers
# never train one reference twice. Lines appended to the queue while it runs are picked up.
#
#   START_UNTIL='+135 minutes' setsid nohup benchmarks/series/run-queue.sh benchmarks/series/<first>.queue [<next>.queue ...] \
#       >> series.log 2>&1 &
#
# The workers consume a live copy of the queue files, in the order given ($WORKTREES/<first>.queue.live, made afresh
# at each start); append to it (under its .lock) to add runs. DATA_ROOT (default ../shared/datasets) holds the data.
set -uo pipefail
PLAN=$(realpath "$1")
DATA_ROOT=$(realpath "${DATA_ROOT:-$(dirname "$0")/../../../shared/datasets}")
PY=${PY:-$(realpath -s "$(dirname "$0")/../../.venv/bin/python")}   # -s: a venv's python is a symlink
SCRATCH=${SCRATCH:-/tmp/focusnet-rebuild}
WORKERS=${WORKERS:-2}
POLL_S=${POLL_S:-60}         # how often a run waiting for its reference's weights looks again
STAGGER_S=${STAGGER_S:-5}    # between the workers' starts
# START_UNTIL: no run starts after this time (what `date -d` reads: "14:25", "+135 minutes"); the ones in flight
# finish. A host does not outlive its session, so a run that cannot finish before the session ends is wasted.
DEADLINE=$([ -n "${START_UNTIL:-}" ] && date -d "$START_UNTIL" +%s || echo "")
REPO=$(realpath "$(dirname "$0")/../..")
WORKTREES=${WORKTREES:-$(realpath "$REPO/..")/worktrees}
mkdir -p "$WORKTREES"
git -C "$REPO" worktree prune   # worktrees registered by a host that is gone would refuse to be made again
QUEUE="$WORKTREES/$(basename "$PLAN").live"
cat "$@" > "$QUEUE"
: > "$QUEUE.seen"

next_line() {   # pop the queue's first line, under a lock shared by the workers
  flock "$QUEUE.lock" bash -c 'line=$(head -n 1 "$0"); sed -i 1d "$0"; echo "$line" | tee -a "$0.seen"' "$QUEUE"
}

worktree_at() {   # the worktree pinned at a commit, made once (under the queue's lock: two workers, one checkout)
  local commit=$1 tree="$WORKTREES/$1"
  flock "$QUEUE.lock" bash -c '[ -d "$1" ] || git -C "$2" worktree add --detach "$1" "$3" >&2' _ "$tree" "$REPO" "$commit" \
      || return 1
  echo "$tree"
}

reference_of() {   # results/<p>/<d>/<a>/<run>@<ref-arch>.<ref-run>/seed<k> -> results/<p>/<d>/<ref-arch>/<ref-run>/seed<k>
  local dir=$1 run seed ref
  run=$(basename "$(dirname "$dir")")
  seed=$(basename "$dir")
  [[ $run == *@* ]] || return 0
  ref=${run#*@}
  echo "$(dirname "$(dirname "$(dirname "$dir")")")/${ref%%.*}/${ref#*.}/$seed"
}

committed() {   # a run whose record the checkout holds (collected and committed): finished, on any host
  [ -e "$REPO/$1/metrics.json" ]
}

adopt_record() {   # a committed reference's record copied into a worktree pinned before it was committed (the
  local tree=$1 ref=$2 name   # trainer then rebuilds its weights by a verified retraining)
  committed "$ref" && [ ! -e "$tree/$ref/metrics.json" ] || return 0
  mkdir -p "$tree/$ref"
  for name in metrics.json epochs.csv; do
    if [ -e "$REPO/$ref/$name" ]; then cp -p "$REPO/$ref/$name" "$tree/$ref/$name"; fi
  done
}

wait_for_reference() {   # only for a reference this series trains (a committed one is rebuilt by the trainer)
  local tree=$1 ref=$2
  committed "$ref" && return 0
  grep -q " train $ref\$" "$QUEUE" "$QUEUE.seen" || return 0
  while [ ! -e "$tree/$ref/model.pt" ]; do
    sleep "$POLL_S"
  done
}

worker() {
  local line commit tree command dir epochs ref
  while true; do
    if [ -n "$DEADLINE" ] && [ "$(date +%s)" -ge "$DEADLINE" ]; then
      echo "worker $1: $(date -u +%FT%TZ) past START_UNTIL ($START_UNTIL): no new run; the queue keeps the rest"
      return
    fi
    line=$(next_line)
    [ -z "$line" ] && return
    [[ $line == \#* ]] && continue
    read -r commit command dir epochs <<< "$line"
    tree=$(worktree_at "$commit") || { echo "worker $1: no worktree for $commit: $line SKIPPED"; continue; }
    if [ "$command" = verify ] && [ -n "$epochs" ]; then
      [ -n "$(git -C "$tree" status --porcelain --untracked-files=all -- "$dir/verified.json")" ] && continue   # checked in this worktree
      git -C "$REPO" diff --quiet "$commit" -- "$dir/verified.json" || continue   # or checked and committed since
      echo "worker $1: $(date -u +%FT%TZ) start verify of $epochs epochs $tree $dir"
      (cd "$tree" && "$PY" -m methods verify "$dir" --epochs "$epochs" --data-root "$DATA_ROOT" --record \
          --cpu-isa avx2) || echo "worker $1: verify $tree $dir FAILED"
    elif [ "$command" = verify ]; then
      [ -e "$tree/$dir/model.pt" ] && continue
      (cd "$tree" && "$PY" -m methods verify "$dir" --data-root "$DATA_ROOT" --scratch "$SCRATCH" --record \
          --install-weights --cpu-isa avx2) || echo "worker $1: verify $tree $dir FAILED"
    else
      [ -e "$tree/$dir/metrics.json" ] && continue
      committed "$dir" && continue   # a fresh host: the worktrees are new, the checkout has what finished
      ref=$(reference_of "$dir")
      [ -n "$ref" ] && adopt_record "$tree" "$ref" && wait_for_reference "$tree" "$ref"
      echo "worker $1: $(date -u +%FT%TZ) start $command $tree $dir"
      (cd "$tree" && "$PY" -m methods train "$dir" --data-root "$DATA_ROOT" --threads 1 --num-workers 0 \
          --cpu-isa avx2 --log "$dir/train.log") || echo "worker $1: train $tree $dir FAILED"
    fi
    echo "worker $1: $(date -u +%FT%TZ) done $command $tree $dir"
  done
}

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for n in $(seq 1 "$WORKERS"); do
  worker "$n" &
  sleep "$STAGGER_S"
done
wait
