#!/usr/bin/env bash
# Wall time of a dry run (the DAG planning) of every table of the paper preset, three times.
#   bash benchmarks/planning.sh
set -euo pipefail
cd "$(dirname "$0")/.."
targets=$(python -c "
from methods.plan import config
from methods.plan.grid import table_names
from methods.plan.layout import table_target
print(' '.join(str(table_target('paper', n)) + ('.png' if config.grid()[n].get('kind') == 'figure' else '.md')
               for n in table_names('paper')))")
for attempt in 1 2 3; do
  start=$(date +%s.%N)
  snakemake -n --cores 2 $targets > /dev/null
  echo "dry run of every paper table: $(echo "$(date +%s.%N) - $start" | bc) s"
done
