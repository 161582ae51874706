#!/usr/bin/env bash
# v4's campaigns (bench/results/search-quality/v4-contest) with every test figure the mean of three fine-tunings
# (--test-seeds 3: the run's seed, then seed + 1000, + 2000), on the AMD EPYC's own AVX-512 code paths: resnet8 seeds
# 0-4 at 12/20/30% and resnet20 seeds 0-2 at 20%, Seer with 32 measurements and the sensitivity allocation. The
# campaigns and the first test fine-tuning are v4's, read from its logs (copy them to the --out folders first); only
# the two further fine-tunings per pick are measured. Run from the repository root after
# `bash scripts/setup.sh -Xswiftc -enable-testing`.
set -euo pipefail
bin=.build/release/seer-bench
here=bench/results/search-quality/v4-test3
run() {  # OUT RUN
    local out=$1; shift
    # v4's campaign defaults, spelled out since the defaults changed (v5-defaults): the same campaigns, read from the logs.
    local args=(--run "$1" --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label v4 --test-seeds 3
                --seer-hidden 16 --seer-pessimism 3 --seer-features standard)
    for i in 0 1; do $bin search-quality "${args[@]}" --out "$out" --shard $i/2 > /dev/null 2> "$out-test3-$i.log" & done
    wait
    $bin search-quality --merge --out "$out" "${args[@]}" | tail -1
}
run runs/search-quality-v4 resnet8:0-4:12,20,30 > $here/summary.json
run runs/search-quality-v4-resnet20 resnet20:0-2:20 > $here/summary-resnet20.json
# Only what this pass added to v4's logs is kept here (same file names): v4-contest's .jsonl files with these appended
# rebuild the --out folders.
added() {  # RUN_DIR V4_COPY DIR
    mkdir -p "$here/$3"
    for f in "$1"/*.jsonl; do grep -vxF -f "$2/$(basename "$f")" "$f" > "$here/$3/$(basename "$f")" || true; done
}
added runs/search-quality-v4 bench/results/search-quality/v4-contest added
added runs/search-quality-v4-resnet20 bench/results/search-quality/v4-contest/resnet20 added-resnet20
