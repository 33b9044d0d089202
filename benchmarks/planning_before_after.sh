#!/usr/bin/env bash
# Planning and reporting cost of two revisions of the suite, measured in one run on one machine, interleaved:
#   (a) building tables/report.md from the committed metrics in a fresh process (`python -m methods table`), and
#   (b) planning the whole paper DAG (`snakemake -n` of every paper table and figure).
# Each revision is checked out into its own scratch worktree (its own committed results), so both read the same
# kind of tree; the same interpreter and packages run both.
#   bash benchmarks/planning_before_after.sh <before-rev> [<after-rev>] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?before revision}; AFTER=${2:-HEAD}; REPEATS=${3:-3}
PY=${PY:-$(pwd)/.venv/bin/python}
SCRATCH=$(mktemp -d)
trap 'git worktree remove --force "$SCRATCH/before" >/dev/null 2>&1; git worktree remove --force "$SCRATCH/after" >/dev/null 2>&1; rm -rf "$SCRATCH"' EXIT
git worktree add --quiet --detach "$SCRATCH/before" "$BEFORE"
git worktree add --quiet --detach "$SCRATCH/after" "$AFTER"

paper_targets() {   # every paper table (.md) and figure (.png) of a tree, as that tree's code names them
  (cd "$1" && PYTHONPATH="$1" "$PY" - <<'EOF'
try:
    from methods.plan import config
    from methods.plan.grid import table_names
    from methods.plan.layout import table_target
except ImportError:   # the layout before methods/plan/ existed
    from methods import config
    from methods.grid import table_names, table_target
print(" ".join(str(table_target("paper", n)) + (".png" if config.grid()[n].get("kind") == "figure" else ".md")
               for n in table_names("paper")))
EOF
)
}

seconds() {   # wall time of a command that must succeed
  local start; start=$(date +%s.%N)
  "$@" > "$SCRATCH/last.log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$SCRATCH/last.log" >&2; exit 1; }
  echo "$(date +%s.%N) - $start" | bc
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $("$PY" --version)"
echo "before: $(git rev-parse --short "$BEFORE")  after: $(git rev-parse --short "$AFTER")  repeats: $REPEATS"
for tree in before after; do
  echo "$tree: $(paper_targets "$SCRATCH/$tree" | wc -w) paper targets"
done
for attempt in $(seq "$REPEATS"); do
  for tree in before after; do
    dir=$SCRATCH/$tree
    report=$(cd "$dir" && PYTHONPATH="$dir" seconds "$PY" -m methods table tables/report.md)
    dag=$(cd "$dir" && PYTHONPATH="$dir" seconds "$PY" -m snakemake -s "$dir/Snakefile" -d "$dir" -n -- \
          $(paper_targets "$dir"))
    jobs=$(grep -cE "^(local)?rule train:" "$SCRATCH/last.log" || true)
    echo "attempt $attempt $tree: report ${report} s, paper DAG dry run ${dag} s (${jobs} training jobs planned)"
  done
done
