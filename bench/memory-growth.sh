#!/usr/bin/env bash
#! How bookweek's time and peak memory grow with the number of books and
#! with their size, bookweek alone (build-vs-hugo.sh has the comparison):
#! the feeds job of `build` at each N, first run (empty state: every text
#! is also saved) and second run (state filled); the daemon's resident
#! memory once it has published; and N books at the size limit. A
#! benchmark, not a test.
#
# usage: bench/memory-growth.sh [N ...]        (default: 1000 10000 50000)
#   BOOKWEEK_BIN=path      the binary (default: cargo build --release)
#   BENCH_SOURCE=dir       the books copied round-robin (default: tests/fixtures/corpus;
#                          the figures in bench/README.md use the 56-book corpus)
#   BENCH_RUNS=n           build runs per N (default 3): median time, largest peak RSS
#   BENCH_BIG=n            books at the size limit (default 300; 0 skips; ~1.2 GB of disk)
#   BENCH_KEEP=1           keep the temporary folder
set -euo pipefail
# A run that fails inside $(...) stops the script, not prints zeros.
shopt -s inherit_errexit

repo=$(cd "$(dirname "$0")/.." && pwd)
source_dir=${BENCH_SOURCE:-$repo/tests/fixtures/corpus}
runs=${BENCH_RUNS:-3}
big=${BENCH_BIG:-300}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
if [ -z "${BOOKWEEK_BIN:-}" ]; then
    (cd "$repo" && cargo build --release --quiet)
    BOOKWEEK_BIN=$repo/target/release/bookweek
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bookweek-memory-bench.XXXXXX")
daemon=
cleanup() {
    [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# measure, summarize, bench_config
. "$repo/bench/lib.sh"

# The feeds job's config (book pages are another site's), and the daemon's.
configure() {
    local site=$1
    mkdir -p "$site/config"
    {
        bench_config feeds
        printf 'server:\n  listen: 127.0.0.1:0\nmail:\n  url: file://outbox\n'
    } >"$site/config/bookweek.yaml"
}

# `build` at 9000-01-01 (every book published or closed): "first" runs
# start from no state, "second" runs from the state the first left.
builds() {
    local site=$1 first second
    first=$(for _ in $(seq "$runs"); do
        rm -rf "$site/public" "$site/state"
        (cd "$site" && measure "$BOOKWEEK_BIN" --now 9000-01-01T00:00:00Z build)
    done | summarize)
    second=$(for _ in $(seq "$runs"); do
        (cd "$site" && measure "$BOOKWEEK_BIN" --now 9000-01-01T00:00:00Z build)
    done | summarize)
    echo "$first $second"
}

# `bookweek run` until it has published its feeds: seconds to that, and
# resident MiB then.
daemon_rss() {
    local site=$1 started pid rss i
    rm -rf "$site/public" "$site/state" "$site/outbox"
    started=$(date +%s.%N)
    (cd "$site" && exec "$BOOKWEEK_BIN" run >"$work/run.out" 2>"$work/run.log") &
    daemon=$!
    for i in $(seq 1200); do
        grep -q "published items" "$work/run.log" 2>/dev/null && break
        kill -0 "$daemon" 2>/dev/null || { echo "daemon stopped: $(tail -3 "$work/run.log")" >&2; exit 1; }
        sleep 0.1
    done
    pid=$daemon
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
    printf '%.2f %.1f\n' "$(echo "$(date +%s.%N) - $started" | bc)" "$(echo "$rss / 1024" | bc -l)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    daemon=
}

echo "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $runs runs per figure"
printf '%-8s %14s %14s %14s\n' books "build, first" "build, second" "run (daemon)"
prev=
for n in "${sizes[@]}"; do
    site=$work/$n
    python3 "$repo/bench/gen-books.py" "$source_dir" "$n" "$site/content"
    configure "$site"
    out=$(builds "$site")
    read -r ft fm st sm <<<"$out"
    out=$(daemon_rss "$site")
    read -r dt dm <<<"$out"
    printf '%-8d %6ss %5sM %6ss %5sM %6ss %5sM\n' "$n" "$ft" "$fm" "$st" "$sm" "$dt" "$dm"
    if [ -n "$prev" ]; then
        read -r pn pm <<<"$prev"
        printf '         first build: %.0f bytes a book more from %d to %d books\n' \
            "$(echo "($fm - $pm) * 1048576 / ($n - $pn)" | bc -l)" "$pn" "$n"
    fi
    prev="$n $fm"
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$site"
done

if [ "$big" -gt 0 ]; then
    # Books padded to just under content.max_file_size (4 MiB): memory must
    # not grow with how long books are either.
    site=$work/big
    python3 "$repo/bench/gen-books.py" "$source_dir" "$big" "$site/content"
    python3 - "$site/content/books" <<'PY'
import os, sys
books = sys.argv[1]
pad = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 60 + "\n\n"
for name in os.listdir(books):
    path = os.path.join(books, name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n" + pad * ((4_000_000 - len(text)) // len(pad)))
PY
    configure "$site"
    out=$(builds "$site")
    read -r ft fm st sm <<<"$out"
    printf '%d books of ~4 MB (%s): build first %ss %sM, second %ss %sM\n' "$big" \
        "$(du -sh "$site/content/books" | cut -f1)" "$ft" "$fm" "$st" "$sm"
fi
