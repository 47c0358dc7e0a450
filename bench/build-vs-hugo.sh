#!/usr/bin/env bash
#! `bookweek build` against Hugo on the same N books: wall time and peak RSS
#! of each, side by side in one run, and the ratios. A benchmark, not a test.
#
# usage: bench/build-vs-hugo.sh [N ...]        (default: 1000 10000)
#   BOOKWEEK_BIN=path      the binary (default: cargo build --release)
#   BENCH_SOURCE=dir       the books copied round-robin (default: tests/fixtures/corpus;
#                          the figures in bench/README.md use the 56-book corpus)
#   BENCH_RUNS=n           runs per side and N (default 3); the median time and the
#                          largest peak RSS are printed
#   BENCH_KEEP=1           keep the temporary folder
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
source_dir=${BENCH_SOURCE:-$repo/tests/fixtures/corpus}
runs=${BENCH_RUNS:-3}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
command -v hugo >/dev/null || { echo "needs hugo: apt-get install -y hugo" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
if [ -z "${BOOKWEEK_BIN:-}" ]; then
    (cd "$repo" && cargo build --release --quiet)
    BOOKWEEK_BIN=$repo/target/release/bookweek
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bookweek-build-bench.XXXXXX")
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

# One timed run of "$@" in the current folder: prints "seconds KiB".
measure() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 || {
        echo "failed: $*" >&2; tail -5 "$work/out" >&2; exit 1; }
    cat "$work/time"
}

# Median of the first column, largest of the second.
summarize() {
    sort -n | awk '{ t[NR] = $1; if ($2 > m) m = $2 }
        END { printf "%.2f %d\n", (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2), m / 1024 }'
}

printf '%8s %10s %8s %10s %8s %8s %8s\n' books "bookweek s" MiB "hugo s" MiB "speed" memory
for n in "${sizes[@]}"; do
    site=$work/$n
    python3 "$repo/bench/gen-books.py" "$source_dir" "$n" "$site/content"
    mkdir -p "$site/config"
    cat >"$site/config/bookweek.yaml" <<YAML
site:
  title: Book of the Week
  base_url: https://example.org
  timezone: Europe/Berlin
paths:
  content: content
  output: public
  state: state/bookweek.db
feeds:
  limit: 50
YAML
    cat >"$site/hugo.toml" <<'TOML'
baseURL = "https://example.org/"
title = "Book of the Week"
disableKinds = ["taxonomy", "term", "sitemap", "robotsTXT", "404"]
[outputs]
home = ["RSS"]
section = ["RSS"]
page = []
[services.rss]
limit = 50
[frontmatter]
date = ["start"]
TOML
    bw=$(for _ in $(seq "$runs"); do
        rm -rf "$site/public" "$site/state"
        (cd "$site" && measure "$BOOKWEEK_BIN" --now 9000-01-01T00:00:00Z build)
    done | summarize)
    hu=$(for _ in $(seq "$runs"); do
        rm -rf "$site/hugo-public" "$site/resources"
        (cd "$site" && measure hugo --quiet -d hugo-public)
    done | summarize)
    read -r bt bm <<<"$bw"
    read -r ht hm <<<"$hu"
    printf '%8d %10s %8s %10s %8s %7.2fx %7.2fx\n' "$n" "$bt" "$bm" "$ht" "$hm" \
        "$(echo "$ht / $bt" | bc -l)" "$(echo "$bm / $hm" | bc -l)"
    rm -rf "$site"
done
echo "speed: Hugo's time / bookweek's (higher is better); memory: bookweek's peak RSS / Hugo's"
