#!/usr/bin/env bash
# Foundation figures: clean debug build, incremental rebuild after touching one crate, release
# binary size, and the app's idle memory with one window open (under Xvfb).
# Usage: bash benches/foundation.sh   (needs `make setup` done; takes ~10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
npm --prefix ui run build >/dev/null

clean_target=$(mktemp -d /tmp/coderoom-clean-target.XXXX)
start=$(date +%s%N)
CARGO_TARGET_DIR=$clean_target cargo build --workspace --all-targets --quiet
clean=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

touch crates/paths/src/lib.rs
start=$(date +%s%N)
CARGO_TARGET_DIR=$clean_target cargo build --workspace --all-targets --quiet
incremental=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
rm -rf "$clean_target"

release_target=${CARGO_TARGET_DIR:-$HOME/.cache/coderoom/target}
CARGO_TARGET_DIR=$release_target cargo build --release -p coderoom-app --quiet
binary=$release_target/release/coderoom
size_mb=$(awk -v s="$(stat -c %s "$binary")" 'BEGIN { printf "%.1f", s / 1048576 }')

# Idle memory: the app process and the WebKit processes it starts, 20 s after launch.
data_dir=$(mktemp -d)
CODEROOM_DATA_DIR=$data_dir xvfb-run -a --server-args="-screen 0 1280x800x24" "$binary" &
runner=$!
sleep 20
app_pid=$(pgrep -n -x coderoom)
tree_pids=$(ps -o pid= --ppid "$app_pid"; echo "$app_pid")
kib() { awk -v key="$1" '$1 == key":" { sum += $2 } END { print sum + 0 }' "${@:2}"; }
app_rss=$(kib Rss /proc/"$app_pid"/smaps_rollup)
tree_rss=0; tree_pss=0
for pid in $tree_pids; do
  [[ -r /proc/$pid/smaps_rollup ]] || continue
  tree_rss=$((tree_rss + $(kib Rss /proc/"$pid"/smaps_rollup)))
  tree_pss=$((tree_pss + $(kib Pss /proc/"$pid"/smaps_rollup)))
done
ps -o pid,rss,comm --pid "$(echo $tree_pids | tr ' ' ',')"
pkill -P "$runner" || true; kill "$app_pid" 2>/dev/null || true; wait "$runner" 2>/dev/null || true
rm -rf "$data_dir"

echo
echo "| figure | value |"
echo "| --- | --- |"
echo "| clean debug build (workspace, all targets) | ${clean} s |"
echo "| incremental rebuild after touching crates/paths | ${incremental} s |"
echo "| release binary size (stripped, thin LTO) | ${size_mb} MiB |"
echo "| idle RSS, app process alone | $((app_rss / 1024)) MiB |"
echo "| idle RSS, app + WebKit processes | $((tree_rss / 1024)) MiB |"
echo "| idle PSS, app + WebKit processes | $((tree_pss / 1024)) MiB |"
