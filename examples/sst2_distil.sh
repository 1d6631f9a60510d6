#!/usr/bin/env bash
# SST-2 with randomly initialised embeddings, distilled: five classifiers (seeds 0-4) are
# trained two at a time, one torch thread each, then a sixth (alone, one thread) learns
# from the gold labels and from the five's averaged probabilities on 16 random spans of
# every training sentence and on 16 copies of it with words masked (each with p = 0.15).
#
#   bash examples/sst2_distil.sh [DATA_DIR] [OUT_DIR]
#
# DATA_DIR holds stsa.binary.{train,dev,test} (default ../shared/data/sst2); OUT_DIR
# (default runs/sst2_distil) receives teacher_s0..4/ and student/; each step prints its
# wall-clock time and the student's dev and test accuracy come last.
set -euo pipefail

data=${1:-../shared/data/sst2}
out=${2:-runs/sst2_distil}
mkdir -p "$out"
common=(--data "$data/stsa.binary.train" --valid "$data/stsa.binary.dev" --tokenizer whitespace
        --min-freq 2 --embed 128 --hidden 128 --pooling mean --dropout 0.5 --batch-size 32
        --optimizer adam --lr 2e-3 --schedule cosine --subword-buckets 50000
        --select accuracy --threads 1 --quiet)

teacher() {
    rnnkit train classify "${common[@]}" --epochs 15 --max-minutes 10 --seed "$1" \
        --out "$out/teacher_s$1" > "$out/teacher_s$1.log"
}

start=$SECONDS
for pair in "0 1" "2 3" "4"; do
    pids=()
    for seed in $pair; do teacher "$seed" & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid"; done  # a failed teacher stops the script
done
echo "teachers: $((SECONDS - start)) s"

teachers=()
for seed in 0 1 2 3 4; do teachers+=(--teacher "$out/teacher_s$seed"); done
rnnkit train classify "${common[@]}" --epochs 2 --max-minutes 20 --seed 0 \
    "${teachers[@]}" --span-samples 16 --masked-copies 16 --out "$out/student" \
    > "$out/student.log"
echo "teachers and student: $((SECONDS - start)) s"

for split in dev test; do
    echo "student, $split:"
    rnnkit evaluate "$out/student" --data "$data/stsa.binary.$split" | head -3
done
