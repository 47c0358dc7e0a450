#!/usr/bin/env bash
#! `bookweek build` against Hugo on the same N books, two jobs (the feeds
#! alone; the feeds and a page per book with its archive): wall time and peak RSS
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
# A run that fails inside $(...) stops the script, not prints zeros.
shopt -s inherit_errexit

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

# measure, summarize, bench_config
. "$repo/bench/lib.sh"

# One site, one job, both sides: prints "seconds MiB" of bookweek then Hugo.
#   $1: the site folder; $2: feeds | site
side_by_side() {
    local site=$1 job=$2 bw hu
    bw=$(for _ in $(seq "$runs"); do
        rm -rf "$site/public" "$site/state"
        (cd "$site" && measure "$BOOKWEEK_BIN" --config "config/$job.yaml" \
            --now 9000-01-01T00:00:00Z build)
    done | summarize)
    hu=$(for _ in $(seq "$runs"); do
        rm -rf "$site/hugo-public" "$site/resources"
        (cd "$site" && measure hugo --quiet --config "hugo-$job.toml" -d hugo-public)
    done | summarize)
    echo "$bw $hu"
}

printf '%-6s %8s %10s %8s %10s %8s %8s %8s\n' job books "bookweek s" MiB "hugo s" MiB speed memory
for n in "${sizes[@]}"; do
    site=$work/$n
    python3 "$repo/bench/gen-books.py" "$source_dir" "$n" "$site/content"
    mkdir -p "$site/config" "$site/layouts/_default"
    # feeds: the books' pages are made by another site (bookweek writes the
    # three feeds and its small index pages); Hugo writes the RSS only.
    # site: bookweek also makes every book's page with its whole archive;
    # Hugo makes a page per book rendering the same archive's markdown.
    for job in feeds site; do
        bench_config "$job" >"$site/config/$job.yaml"
    done
    cat >"$site/hugo-feeds.toml" <<'TOML'
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
    sed -e 's/^page = \[\]/page = ["HTML"]/' "$site/hugo-feeds.toml" >"$site/hugo-site.toml"
    cat >"$site/layouts/_default/single.html" <<'HTML'
<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><main><h1>{{ .Title }}</h1>{{ .Content }}
{{ range $i, $t := .Params.archive }}<section id="q{{ add $i 1 }}"><h3>{{ $t.name }}</h3>{{ $t.text | markdownify }}
{{ range $t.replies }}<div><b>{{ .name }}</b>{{ .text | markdownify }}</div>{{ end }}</section>
{{ end }}</main></body></html>
HTML
    for job in feeds site; do
        out=$(side_by_side "$site" "$job")
        read -r bt bm ht hm <<<"$out"
        printf '%-6s %8d %10s %8s %10s %8s %7.2fx %7.2fx\n' "$job" "$n" "$bt" "$bm" "$ht" "$hm" \
            "$(echo "$ht / $bt" | bc -l)" "$(echo "$bm / $hm" | bc -l)"
    done
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$site"
done
echo "speed: Hugo's time / bookweek's (higher is better); memory: bookweek's peak RSS / Hugo's"
echo "feeds: the three feeds (Hugo: RSS only); site: every book's page with its archive too"
