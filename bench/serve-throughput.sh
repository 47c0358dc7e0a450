#!/usr/bin/env bash
#! `bookweek run` against nginx serving the same feed bytes: requests a
#! second with wrk at 50 connections on /feed.xml and /atom.xml, plain and
#! gzip (and brotli for bookweek alone), side by side in one run, and the
#! ratio per row. A benchmark, not a test.
#
# usage: bench/serve-throughput.sh
#   BOOKWEEK_BIN=path      the binary (default: cargo build --release)
#   BENCH_SOURCE=dir       the content folder served (default: the repository's
#                          content/; the real corpus is ../shared/corpus)
#   BENCH_NOW=time         --now for the daemon (default: the clock)
#   BENCH_DURATION=15s     wrk's -d per row and side
#   BENCH_CONNECTIONS=50   wrk's -c
#   BENCH_KEEP=1           keep the temporary folder (config, logs, nginx's root)
#
# nginx (Debian's 1.22) runs 2 workers with sendfile, gzip_static (the .gz
# files written beside the feeds with `gzip -6`, as bookweek's level) and
# access logs off. Debian's nginx has no brotli module, so the br row has no
# peer. Both servers and wrk share the machine's cores: the ratio is what
# counts, not the absolute figures.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
source_dir=${BENCH_SOURCE:-$repo/content}
duration=${BENCH_DURATION:-15s}
connections=${BENCH_CONNECTIONS:-50}
for tool in nginx wrk curl gzip python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y nginx wrk curl" >&2; exit 2; }
done
if [ -z "${BOOKWEEK_BIN:-}" ]; then
    (cd "$repo" && cargo build --release --quiet)
    BOOKWEEK_BIN=$repo/target/release/bookweek
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bookweek-serve-bench.XXXXXX")
bw_pid=
nginx_pid=
cleanup() {
    [ -z "$bw_pid" ] || kill "$bw_pid" 2>/dev/null || true
    [ -z "$nginx_pid" ] || kill "$nginx_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# --- bookweek ------------------------------------------------------------
site=$work/site
mkdir -p "$site/config"
cp -r "$source_dir" "$site/content"
cat >"$site/config/bookweek.yaml" <<YAML
site:
  title: Book of the Week
  base_url: https://example.org
  timezone: Europe/Berlin
server:
  listen: 127.0.0.1:0
paths:
  content: content
  output: public
  state: state/bookweek.db
YAML
now_args=()
[ -z "${BENCH_NOW:-}" ] || now_args=(--now "$BENCH_NOW")
(cd "$site" && exec "$BOOKWEEK_BIN" "${now_args[@]}" run >"$work/bookweek.out" 2>"$work/bookweek.log") &
bw_pid=$!
# The daemon prints its address once the feeds are published and it listens.
for _ in $(seq 300); do
    grep -q '^bookweek: listening on ' "$work/bookweek.out" 2>/dev/null && break
    kill -0 "$bw_pid" 2>/dev/null || { echo "bookweek run exited:" >&2; tail -20 "$work/bookweek.log" >&2; exit 1; }
    sleep 0.1
done
bw_base=$(sed -n 's/^bookweek: listening on //p' "$work/bookweek.out")
[ -n "$bw_base" ] || { echo "bookweek run did not say where it listens" >&2; exit 1; }

# --- nginx, serving the bytes bookweek serves ------------------------------
root=$work/www
mkdir -p "$root"
for f in feed.xml atom.xml; do
    curl -sf -o "$root/$f" "$bw_base/$f"
    gzip -6 -k -n "$root/$f"
done
# nginx's workers run as nobody: they must be able to read the root.
chmod -R a+rX "$work"
nginx_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    # wrk keeps its connections for the whole run; nginx's default would
    # close each after 1,000 requests, bookweek never does.
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    types { application/rss+xml xml; }
    client_body_temp_path $work/nginx-body;
    proxy_temp_path $work/nginx-proxy;
    fastcgi_temp_path $work/nginx-fastcgi;
    uwsgi_temp_path $work/nginx-uwsgi;
    scgi_temp_path $work/nginx-scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $root;
        gzip_static on;
        gzip_vary on;
        location = /atom.xml { types { } default_type application/atom+xml; }
    }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
nginx_pid=$!
nginx_base=http://127.0.0.1:$nginx_port
for _ in $(seq 100); do
    curl -sf -o /dev/null "$nginx_base/feed.xml" && break
    sleep 0.05
done

# --- both serve the same bytes ---------------------------------------------
check() {
    # $1 path, $2 Accept-Encoding, $3 decoder
    local path=$1 accept=$2 decode=$3
    curl -sf -H "Accept-Encoding: $accept" -D "$work/h-bw" "$bw_base$path" | $decode >"$work/bw.body"
    curl -sf -H "Accept-Encoding: $accept" -D "$work/h-ng" "$nginx_base$path" | $decode >"$work/ng.body"
    cmp -s "$work/bw.body" "$work/ng.body" || { echo "$path ($accept): bookweek and nginx differ" >&2; exit 1; }
    cmp -s "$work/bw.body" "$root$path" || { echo "$path ($accept): not the bytes bookweek wrote" >&2; exit 1; }
}
for path in /feed.xml /atom.xml; do
    check "$path" identity cat
    check "$path" gzip "gzip -dc"
    grep -qi '^content-encoding: gzip' "$work/h-bw" || { echo "$path: bookweek sent no gzip" >&2; exit 1; }
    grep -qi '^content-encoding: gzip' "$work/h-ng" || { echo "$path: nginx sent no gzip" >&2; exit 1; }
done

sizes() {
    local path=$1 accept=$2
    printf '%s/%s' \
        "$(curl -sf -H "Accept-Encoding: $accept" "$bw_base$path" | wc -c)" \
        "$(curl -sf -H "Accept-Encoding: $accept" "$nginx_base$path" | wc -c)"
}

# Requests a second from wrk's summary; errors and non-2xx answers noted.
rate() {
    local url=$1 accept=$2 out
    if [ -n "$accept" ]; then
        out=$(wrk -t2 -c"$connections" -d"$duration" -H "Accept-Encoding: $accept" "$url")
    else
        out=$(wrk -t2 -c"$connections" -d"$duration" "$url")
    fi
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
        grep -E 'Non-2xx|Socket errors' <<<"$out" | sed "s|^|  $url ($accept): |" >&2
    fi
    awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out"
}

echo "bookweek $bw_base (pid $bw_pid), nginx $nginx_base (2 workers, sendfile, gzip_static)"
echo "content: $source_dir; wrk -t2 -c$connections -d$duration; $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bytes bookweek/nginx: feed.xml $(sizes /feed.xml identity) plain, $(sizes /feed.xml gzip) gzip;" \
    "atom.xml $(sizes /atom.xml identity) plain, $(sizes /atom.xml gzip) gzip"
printf '%-10s %-9s %14s %14s %7s\n' path encoding "bookweek r/s" "nginx r/s" ratio
for path in /feed.xml /atom.xml; do
    for accept in "" gzip; do
        bw=$(rate "$bw_base$path" "$accept")
        ng=$(rate "$nginx_base$path" "$accept")
        ratio=$(awk -v a="$bw" -v b="$ng" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        printf '%-10s %-9s %14s %14s %7s\n' "$path" "${accept:-identity}" "$bw" "$ng" "$ratio"
    done
    # No peer: Debian's nginx has no brotli module.
    printf '%-10s %-9s %14s %14s %7s\n' "$path" br "$(rate "$bw_base$path" br)" - -
done
