#!/usr/bin/env bash
# The campaign defaults of commit "Campaign defaults: ridge-only linear predictor, pessimism 10", chosen on v4's
# campaigns with three test fine-tunings (bench/results/search-quality/v4-test3) and checked on fresh seeds. AMD EPYC
# (Zen 4), its own AVX-512 code paths; Seer with 32 measurements and the sensitivity allocation; every test figure the
# mean of three fine-tunings. Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`, with
# v4's logs (v4-contest/*.jsonl + v4-test3/added/*.jsonl, resp. their resnet20 folders) and logs/*.gz unpacked into
# runs/search-quality-v4 and runs/search-quality-v4-resnet20 (else everything is measured again: hours).
#
# The variants override the defaults of the commit before (MLP of 16 hidden units, standard features, pessimism 3):
#   v5-p10           --seer-pessimism 10
#   v5-h0            --seer-hidden 0
#   v5-h0-p10        --seer-hidden 0 --seer-pessimism 10
#   v5-h0-lin-p10    --seer-hidden 0 --seer-pessimism 10 --seer-features linear   (the new defaults)
# then resnet8 seeds 5-9 at 12/20%, none of which the choice looked at: v4 (the old defaults) and v5-h0-lin-p10.
# Since the defaults changed, the old defaults are spelled out for the v4 rows: --seer-hidden 16 --seer-pessimism 3
# --seer-features standard (same campaigns, so a rerun reads them from the logs).
set -euo pipefail
bin=.build/release/seer-bench
here=bench/results/search-quality/v5-defaults
old=(--seer-hidden 16 --seer-pessimism 3 --seer-features standard)
variant() {  # OUT PLAN LABEL [overrides...]
    local out=$1 plan=$2 label=$3; shift 3
    local args=(--run "$plan" --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label "$label" --test-seeds 3 "$@")
    for i in 0 1; do $bin search-quality "${args[@]}" --out "$out" --shard $i/2 > /dev/null 2> "$out-$label-$i.log" & done
    wait
    $bin search-quality --merge --out "$out" "${args[@]}" | tail -1
}
for v in "v5-p10 --seer-pessimism 10" "v5-h0 --seer-hidden 0" "v5-h0-p10 --seer-hidden 0 --seer-pessimism 10" \
         "v5-h0-lin-p10 --seer-hidden 0 --seer-pessimism 10 --seer-features linear"; do
    set -- $v; label=$1; shift
    variant runs/search-quality-v4 resnet8:0-4:12,20,30 "$label" "$@" > $here/resnet8-$label.json
    variant runs/search-quality-v4-resnet20 resnet20:0-2:20 "$label" "$@" > $here/resnet20-$label.json
done
variant runs/search-quality-fresh resnet8:5-9:12,20 v4 "${old[@]}" > $here/fresh-seeds-v4.json
variant runs/search-quality-fresh resnet8:5-9:12,20 v5-h0-lin-p10 --seer-hidden 0 --seer-pessimism 10 --seer-features linear \
    > $here/fresh-seeds-v5-h0-lin-p10.json
python3 $here/compare.py bench/results/search-quality/v4-test3/summary*.json $here/*.json
