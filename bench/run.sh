#!/usr/bin/env bash
# Run every benchmark and keep its output in bench/results/ (dated, with
# the host's CPU). Benchmarks print ratios against a peer measured in the
# same run, so the figures mean something on any machine.
set -euo pipefail
: "${BENCH_BIN:?}"
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bench/results"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
out="$root/bench/results/$(date +%Y-%m-%d)-$(hostname -s).txt"
{
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $cpu"
    for b in "$BENCH_BIN"/*; do
        [ -x "$b" ] || continue
        case $(basename "$b") in *gpu*) continue ;; esac # GPU benchmarks: make gpu-check
        "$b"
    done
    for s in "$root"/bench/*.sh; do # script benchmarks (real data; skip without it)
        [ "$(basename "$s")" = run.sh ] || "$s"
    done
} | tee "$out"
echo "bench: results kept in ${out#$root/}"
