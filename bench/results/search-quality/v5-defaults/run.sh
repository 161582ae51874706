#!/usr/bin/env bash
# The campaign defaults of commit 8c8eda5 (a ridge-only linear predictor, pessimism 10), chosen on v4's campaigns with
# three test fine-tunings (bench/results/search-quality/v4-test3) and checked on fresh seeds. AMD EPYC (Zen 4), its own
# AVX-512 code paths; Seer with 32 measurements and the sensitivity allocation; every test figure the mean of three
# fine-tunings. Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`.
#
# Every variant names all three knobs, so it means the same whatever the defaults of the binary:
#   v4               --seer-hidden 16 --seer-pessimism 3  --seer-features standard   (the defaults before 8c8eda5)
#   v5-p10           --seer-hidden 16 --seer-pessimism 10 --seer-features standard
#   v5-h0            --seer-hidden 0  --seer-pessimism 3  --seer-features standard
#   v5-h0-p10        --seer-hidden 0  --seer-pessimism 10 --seer-features standard
#   v5-h0-lin-p10    --seer-hidden 0  --seer-pessimism 10 --seer-features linear     (the defaults since)
# The variants run in folders of their own, seeded with v4's logs (v4-contest/*.jsonl with v4-test3's additions) and
# this folder's logs/*.gz, so that only their changed picks and samples would be measured (with the logs, nothing), and
# runs/search-quality-v4 keeps v4's campaigns alone for contest_tests.py and plateau.py. Then resnet8 seeds 5-9 at
# 12/20%, which no choice looked at: v4 and v5-h0-lin-p10.
set -euo pipefail
bin=.build/release/seer-bench
here=bench/results/search-quality/v5-defaults
v4=bench/results/search-quality/v4-contest
added=bench/results/search-quality/v4-test3
seed() {  # OUT V4_LOGS ADDED_LOGS GZ_PREFIX: the measurement and result logs a folder starts from
    mkdir -p "$1"
    for b in measurements.0of2.jsonl measurements.1of2.jsonl results.0of2.jsonl results.1of2.jsonl; do
        [ -e "$1/$b" ] || { cat "$2/$b" "$3/$b"; gunzip -c "$here/logs/$4-$b.gz"; } > "$1/$b"
    done
}
variant() {  # OUT PLAN LABEL HIDDEN PESSIMISM FEATURES
    local out=$1 plan=$2 label=$3
    local args=(--run "$plan" --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label "$label" --test-seeds 3
                --seer-hidden "$4" --seer-pessimism "$5" --seer-features "$6")
    for i in 0 1; do $bin search-quality "${args[@]}" --out "$out" --shard $i/2 > /dev/null 2> "$out-$label-$i.log" & done
    wait
    $bin search-quality --merge --out "$out" "${args[@]}" | tail -1
}
seed runs/search-quality-v5 $v4 $added/added resnet8
seed runs/search-quality-v5-resnet20 $v4/resnet20 $added/added-resnet20 resnet20
for v in "v5-p10 16 10 standard" "v5-h0 0 3 standard" "v5-h0-p10 0 10 standard" "v5-h0-lin-p10 0 10 linear"; do
    set -- $v
    variant runs/search-quality-v5 resnet8:0-4:12,20,30 "$@" > $here/resnet8-$1.json
    variant runs/search-quality-v5-resnet20 resnet20:0-2:20 "$@" > $here/resnet20-$1.json
done
mkdir -p runs/search-quality-fresh
for b in measurements.0of2.jsonl measurements.1of2.jsonl results.0of2.jsonl results.1of2.jsonl; do
    [ -e runs/search-quality-fresh/$b ] || gunzip -c $here/logs/fresh-seeds-$b.gz > runs/search-quality-fresh/$b
done
variant runs/search-quality-fresh resnet8:5-9:12,20 v4 16 3 standard > $here/fresh-seeds-v4.json
variant runs/search-quality-fresh resnet8:5-9:12,20 v5-h0-lin-p10 0 10 linear > $here/fresh-seeds-v5-h0-lin-p10.json
python3 $here/compare.py $added/summary*.json $here/*.json
