#!/usr/bin/env bash
# SST-2 with randomly initialised embeddings, an ensemble: ten classifiers (seeds 0-9, the
# same settings) are trained two at a time, one torch thread each; `rnnkit evaluate` with
# all ten directories averages their class probabilities.
#
#   bash examples/sst2_ensemble.sh [DATA_DIR] [OUT_DIR]
#
# DATA_DIR holds stsa.binary.{train,dev,test} (default ../shared/data/sst2); OUT_DIR
# (default runs/sst2_ensemble) receives model_s0..9/; the training time is printed, then
# the ensemble's dev and test accuracy.
set -euo pipefail

data=${1:-../shared/data/sst2}
out=${2:-runs/sst2_ensemble}
mkdir -p "$out"

model() {
    rnnkit train classify --data "$data/stsa.binary.train" --valid "$data/stsa.binary.dev" \
        --tokenizer whitespace --min-freq 2 --embed 128 --hidden 128 --pooling mean \
        --dropout 0.5 --batch-size 32 --optimizer adam --lr 2e-3 --schedule cosine \
        --epochs 15 --subword-buckets 50000 --select accuracy --threads 1 --max-minutes 10 \
        --quiet --seed "$1" --out "$out/model_s$1" > "$out/model_s$1.log" 2>&1 \
        || { echo "seed $1 failed: see $out/model_s$1.log" >&2; return 1; }
}

# Two trainings at a time (bash >= 4.3 for `wait -n`): a failed one stops the script, and the
# trap stops the one still running (job control gives each its own process group, so the
# kill reaches rnnkit itself). Nothing but builtins may run in the loop: `wait -n` does not
# see a job that ended while the shell waited on another command.
set -m
trap 'for job in $(jobs -p); do kill -- "-$job" 2> /dev/null || true; done' EXIT
start=$SECONDS
running=0
for seed in 0 1 2 3 4 5 6 7 8 9; do
    if ((running == 2)); then wait -n; running=$((running - 1)); fi
    model "$seed" &
    running=$((running + 1))
done
while ((running > 0)); do wait -n; running=$((running - 1)); done
echo "ten models: $((SECONDS - start)) s"

models=()
for seed in 0 1 2 3 4 5 6 7 8 9; do models+=("$out/model_s$seed"); done
for split in dev test; do
    echo "ensemble of ten, $split:"
    rnnkit evaluate "${models[@]}" --data "$data/stsa.binary.$split" | sed -n 1,3p
done
