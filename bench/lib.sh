# Helpers the bench scripts share; sourced, not run. They expect `$work`,
# the script's temporary folder.

# One timed run of "$@" in the current folder: prints "seconds KiB".
measure() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 || {
        echo "failed: $*" >&2; tail -5 "$work/out" >&2; exit 1; }
    cat "$work/time"
}

# Of "seconds KiB" lines: the median of the first column and the largest of
# the second, in MiB.
summarize() {
    sort -n | awk '{ t[NR] = $1; if ($2 > m) m = $2 }
        END { printf "%.2f %.1f\n", (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2), m / 1024 }'
}

# A site's config for the build benchmarks, on stdout: the feeds job when
# $1 is "feeds" (book pages on another site), else the whole site.
bench_config() {
    cat <<'YAML'
site:
  title: Book of the Week
  base_url: https://example.org
  timezone: Europe/Berlin
YAML
    [ "$1" != feeds ] || echo "  book_path: https://books.example.net/b/{slug}/"
    cat <<'YAML'
paths:
  content: content
  output: public
  state: state/bookweek.db
feeds:
  limit: 50
YAML
}
