#!/usr/bin/env bash
# Issue #25's measurements in one command, for a machine with nothing else running
# (about 25 minutes on 2 cores with the counts below):
#   1. the whole run against word_language_model (bench_wholerun.py), default threads and 1;
#   2. the step benchmark (bench_lm.py) on 1 thread and on 2;
#   3. OpenMP's wait policy with no competitor and with one (bench_wait_policy.py).
# Figures land in benchmarks/results/{wholerun,lm_threads1,lm_threads2,wait_policy}.md.
#
#   EXAMPLE=../ext/word_language_model bash benchmarks/wholerun_suite.sh
#
# Counts can be changed from the environment: ROUNDS, ONE_THREAD_ROUNDS (whole runs),
# LM_ROUNDS, LM_WINDOWS (step benchmark), POLICY_ROUNDS, POLICY_STEPS, COMPETITORS; and
# MAX_TRAIN_TOKENS cuts the whole runs' training file (a quick check of the suite, not a
# measurement).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
EXAMPLE=${EXAMPLE:?EXAMPLE=folder with word_language_model\'s main.py, model.py, data.py}
DATA=${DATA:-../shared/data/ptb}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
unset OMP_WAIT_POLICY GOMP_SPINCOUNT OMP_NUM_THREADS  # each benchmark sets its own

echo "== $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" benchmarks/bench_wholerun.py --example "$EXAMPLE" --data "$DATA" \
    --rounds "${ROUNDS:-2}" --one-thread-rounds "${ONE_THREAD_ROUNDS:-1}" \
    --max-train-tokens "${MAX_TRAIN_TOKENS:-0}"
for threads in 1 2; do
  echo "== $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$PYTHON" benchmarks/bench_lm.py --rounds "${LM_ROUNDS:-5}" --windows "${LM_WINDOWS:-30}" \
      --impls auto --threads "$threads" --parts --out "benchmarks/results/lm_threads$threads.md"
done
echo "== $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086  # COMPETITORS is a list
"$PYTHON" benchmarks/bench_wait_policy.py --data "$DATA" --competitors ${COMPETITORS:-0 1} \
    --rounds "${POLICY_ROUNDS:-2}" --steps "${POLICY_STEPS:-100}"
echo "== $(date -u +%FT%TZ) done"
