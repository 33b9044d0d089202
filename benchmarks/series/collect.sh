#!/usr/bin/env bash
# Copy the finished records of a series' worktrees into this checkout (to commit them): for every run directory
# that a worktree trained (its metrics.json untracked there) and that is not here yet (or differs), its metrics.json,
# epochs.csv and logs (weights, checkpoints and restore/ stay behind: they are never committed). Prints each run
# copied. A run whose protocol hash differs from what this checkout resolves is refused, naming it: the series
# must train what main would train. The checks a worktree's `verify --record` wrote beside a record this checkout
# holds (identical metrics.json) are added to that run's verified.json here.
#
#   benchmarks/series/collect.sh [<commit> ...]      (default: every worktree under $WORKTREES)
set -euo pipefail
REPO=$(realpath "$(dirname "$0")/../..")
WORKTREES=${WORKTREES:-$(realpath "$REPO/..")/worktrees}
PY=${PY:-$(realpath -s "$REPO/.venv/bin/python")}
cd "$REPO"
commits=("$@")
[ ${#commits[@]} -eq 0 ] && commits=($(ls "$WORKTREES" | grep -v '\.' || true))
for commit in "${commits[@]}"; do
  tree="$WORKTREES/$commit"
  [ -d "$tree/results" ] || continue
  git -C "$tree" ls-files --others --exclude-standard -- results | { grep '/metrics.json$' || true; } | sort | while read -r record; do
    dir=$(dirname "$record")
    if [ -e "$dir/metrics.json" ] && cmp -s "$tree/$dir/metrics.json" "$dir/metrics.json"; then
      continue
    fi
    expected=$("$PY" -c "import sys; from methods.plan.protocol import resolve; from methods.plan.spec import RunSpec; print(resolve(RunSpec.from_directory(sys.argv[1])).hash)" "$dir")
    recorded=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['protocol_hash'])" "$tree/$record")
    if [ "$expected" != "$recorded" ]; then
      echo "REFUSED $dir: trained under protocol $recorded at $commit, this checkout resolves $expected" >&2
      continue
    fi
    mkdir -p "$dir"
    for name in metrics.json epochs.csv train.log attempts.log verified.json; do
      if [ -e "$tree/$dir/$name" ]; then cp -p "$tree/$dir/$name" "$dir/$name"; fi
    done
    echo "$dir (from $commit)"
  done
  # a check (verify --record) made in a worktree that holds the run's record: its verified.json comes back too
  git -C "$tree" status --porcelain --untracked-files=all -- results | sed -n 's|^.. \(results/.*/verified.json\)$|\1|p' | sort |
      while read -r check; do
    dir=$(dirname "$check")
    cmp -s "$tree/$dir/metrics.json" "$dir/metrics.json" || continue   # not this checkout's record
    # the checks the worktree made are added to those the checkout holds (a worktree pinned before a check was
    # committed lacks it: copying its file over would drop that check)
    added=$("$PY" -c "
import json, sys
from pathlib import Path
from methods.runs.artifacts import add_verifications
print(len(add_verifications(Path(sys.argv[2]), json.loads(Path(sys.argv[1]).read_text()))))" "$tree/$check" "$check")
    [ "$added" = 0 ] || echo "$check (checked at $commit: $added added)"
  done
done
