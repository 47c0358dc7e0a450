#!/usr/bin/env bash
# Digest throughput benchmark (not a test): bookweek vs Postfix's smtp-source,
# both sending into the same smtp-sink on loopback. See bench/README.md.
#
#   bench/digest-throughput.sh [--sink-only] [--size BYTES] [N ...]   (default N: 100000 1000000)
#
# For each N: import N subscribers, send one digest to all of them with
# `bookweek digest send` under /usr/bin/time -v, then send N messages of the same
# size over the same number of connections with smtp-source; print both rates,
# their ratio and bookweek's peak RSS. --sink-only skips bookweek (smtp-source
# half only; message size from --size, default 15000).
# Env: BOOKWEEK_BENCH_KEEP=1 keeps the temporary directory; BOOKWEEK_BIN=PATH
# uses that binary instead of `cargo build --release`; BOOKWEEK_BENCH_CONNECTIONS
# (default 4) sets mail.connections and smtp-source's session count.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNECTIONS=${BOOKWEEK_BENCH_CONNECTIONS:-4}
NOW=2022-12-12T09:00:00+01:00 # Monday 09:00 right after the shipped example's week closed
FROM_ADDR=digest@example.org
SOURCE_HEADER_BYTES=133 # From/To/Date/Message-Id smtp-source adds around its -l payload

usage() { sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2; }
die() { echo "digest-throughput: $*" >&2; exit 1; }

SINK_ONLY=0
SIZE=
COUNTS=()
while (($#)); do
  case $1 in
    --sink-only) SINK_ONLY=1 ;;
    --size) SIZE=${2:?--size needs BYTES}; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [[ $1 =~ ^[1-9][0-9]*$ ]] || die "not a count: $1"; COUNTS+=("$1") ;;
  esac
  shift
done
((${#COUNTS[@]})) || COUNTS=(100000 1000000)
[[ -z $SIZE || $SIZE =~ ^[1-9][0-9]*$ ]] || die "--size wants a byte count"
((SINK_ONLY == 0)) || SIZE=${SIZE:-15000}

# --- tools ------------------------------------------------------------------
POSTFIX_HINT='install: echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix'
find_tool() { command -v "$1" 2>/dev/null || { [[ -x /usr/sbin/$1 ]] && echo "/usr/sbin/$1"; } || true; }
SMTP_SINK=$(find_tool smtp-sink)
SMTP_SOURCE=$(find_tool smtp-source)
[[ -n $SMTP_SINK && -n $SMTP_SOURCE ]] || die "smtp-sink/smtp-source (Debian package postfix) not found
  $POSTFIX_HINT"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; install: apt-get install -y time"
command -v awk >/dev/null || die "awk not found; install: apt-get install -y mawk"

# --- temp dir, sink, cleanup ------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bookweek-bench.XXXXXX")
SINK_PID=
cleanup() {
  local rc=$?
  if [[ -n $SINK_PID ]]; then
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
  fi
  if [[ ${BOOKWEEK_BENCH_KEEP:-0} == 1 ]]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port below the ephemeral range that nothing answers on. smtp-sink sets
# SO_REUSEPORT, so a stale sink on the same port would silently share the load.
PORT=
for _ in $(seq 1 100); do
  p=$((20000 + RANDOM % 12000))
  if ! port_in_use "$p"; then PORT=$p; break; fi
done
[[ -n $PORT ]] || die "no free port found"

SINK_USER=()
((EUID != 0)) || SINK_USER=(-u nobody) # required when running as root
# -c: running counters (sess/quit/mesg) on stdout, used to check what arrived.
"$SMTP_SINK" "${SINK_USER[@]}" -c "127.0.0.1:$PORT" 4096 >"$WORK/sink.out" 2>"$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 1 100); do
  port_in_use "$PORT" && break
  kill -0 "$SINK_PID" 2>/dev/null || { cat "$WORK/sink.err" >&2; die "smtp-sink did not start"; }
  sleep 0.05
done
port_in_use "$PORT" || die "smtp-sink is not listening on 127.0.0.1:$PORT"

# Messages the sink has counted so far (its -c output: "sess=A quit=B mesg=C\r...").
sink_count() {
  tail -c 200 "$WORK/sink.out" | tr '\r' '\n' | awk -F'mesg=' 'NF > 1 { n = $2 + 0 } END { print n + 0 }'
}

# Seconds from /usr/bin/time -v's "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.34".
wall_seconds() {
  sed -n 's/^[[:space:]]*Elapsed (wall clock) time.*): //p' "$1" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.3f\n", s }'
}
peak_rss_kib() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"; }
now_ns() { date +%s%N; }
seconds_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'; }

# Bytes on the wire of a message file: LF-only lines count as CRLF.
wire_size() {
  local bytes lf crlf
  bytes=$(wc -c <"$1")
  lf=$(tr -cd '\n' <"$1" | wc -c)
  crlf=$(grep -c $'\r$' "$1" || true)
  echo $((bytes + lf - crlf))
}

# --- bookweek -----------------------------------------------------------------
BIN=
if ((SINK_ONLY == 0)); then
  if [[ -n ${BOOKWEEK_BIN:-} ]]; then
    BIN=$BOOKWEEK_BIN
  else
    command -v cargo >/dev/null || die "cargo not found (or set BOOKWEEK_BIN)"
    echo "building bookweek (cargo build --release)…" >&2
    (cd "$REPO" && cargo build --release --quiet)
    BIN=$REPO/target/release/bookweek
  fi
  [[ -x $BIN ]] || die "no bookweek binary at $BIN"
fi

echo "smtp-sink on 127.0.0.1:$PORT (pid $SINK_PID), $CONNECTIONS connections, $(nproc) cores, load average$(uptime | sed 's/.*load average//')"

RESULTS=()
for N in "${COUNTS[@]}"; do
  RUN=$WORK/n$N
  mkdir -p "$RUN"
  BW_RATE=- RSS_MIB=- IMPORT_S=- SENT=-
  MSG_SIZE=$SIZE

  if ((SINK_ONLY == 0)); then
    mkdir -p "$RUN/config" "$RUN/templates" "$RUN/public" "$RUN/preview"
    CFG=$RUN/config/bookweek.yaml
    cat >"$CFG" <<EOF
paths: {content: $REPO/content, state: $RUN/state.db, output: $RUN/public, templates: $RUN/templates}
mail: {url: "smtp://127.0.0.1:$PORT", from: "Book of the Week <$FROM_ADDR>", connections: $CONNECTIONS}
digest: {schedule: "0 0 9 * * Mon"}
EOF
    awk -v n="$N" 'BEGIN { print "email,name"; for (i = 1; i <= n; i++) printf "sub%06d@example.net,Subscriber %d\n", i, i }' \
      >"$RUN/subscribers.csv"
    t0=$(now_ns)
    "$BIN" --config "$CFG" --now "$NOW" subscribers import "$RUN/subscribers.csv" >"$RUN/import.log" 2>&1 ||
      { tail -n 20 "$RUN/import.log" >&2; die "subscribers import failed (N=$N)"; }
    IMPORT_S=$(seconds_since "$t0")
    rm -f "$RUN/subscribers.csv"
    echo "N=$N: imported in ${IMPORT_S}s: $(tail -n 1 "$RUN/import.log")"

    if [[ -z $MSG_SIZE ]]; then
      "$BIN" --config "$CFG" --now "$NOW" digest preview --out "$RUN/preview" >"$RUN/preview.log" 2>&1 ||
        { tail -n 20 "$RUN/preview.log" >&2; die "digest preview failed (pass --size BYTES to skip it)"; }
      EML=$(find "$RUN/preview" -name '*.eml' -type f | sort | head -n 1)
      [[ -n $EML ]] || die "digest preview wrote no .eml into $RUN/preview (pass --size BYTES)"
      MSG_SIZE=$(wire_size "$EML")
    fi

    before=$(sink_count)
    if ! /usr/bin/time -v -o "$RUN/bookweek.time" \
      "$BIN" --config "$CFG" --now "$NOW" digest send >"$RUN/send.log" 2>&1; then
      tail -n 20 "$RUN/send.log" >&2
      die "bookweek digest send failed (N=$N)"
    fi
    SENT=$(($(sink_count) - before))
    BW_WALL=$(wall_seconds "$RUN/bookweek.time")
    BW_RATE=$(awk -v n="$N" -v s="$BW_WALL" 'BEGIN { printf "%.0f", n / s }')
    RSS_MIB=$(awk -v k="$(peak_rss_kib "$RUN/bookweek.time")" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "N=$N: bookweek sent in ${BW_WALL}s, sink counted $SENT messages: $(grep -v '^[[:space:]]*$' "$RUN/send.log" | tail -n 1)"
    ((SENT == N)) || echo "N=$N: WARNING: the sink counted $SENT messages, expected $N" >&2
  fi

  PAYLOAD=$((MSG_SIZE > SOURCE_HEADER_BYTES ? MSG_SIZE - SOURCE_HEADER_BYTES : 1))
  before=$(sink_count)
  /usr/bin/time -v -o "$RUN/source.time" "$SMTP_SOURCE" -s "$CONNECTIONS" -m "$N" -l "$PAYLOAD" -d \
    -f "$FROM_ADDR" -t sub@example.net "127.0.0.1:$PORT" >"$RUN/source.log" 2>&1 ||
    { tail -n 20 "$RUN/source.log" >&2; die "smtp-source failed (N=$N)"; }
  SRC_SENT=$(($(sink_count) - before))
  SRC_WALL=$(wall_seconds "$RUN/source.time")
  SRC_RATE=$(awk -v n="$N" -v s="$SRC_WALL" 'BEGIN { printf "%.0f", n / s }')
  echo "N=$N: smtp-source sent in ${SRC_WALL}s, sink counted $SRC_SENT messages of $MSG_SIZE bytes"
  ((SRC_SENT == N)) || echo "N=$N: WARNING: the sink counted $SRC_SENT messages, expected $N" >&2

  RATIO=-
  [[ $BW_RATE == - ]] || RATIO=$(awk -v a="$BW_RATE" -v b="$SRC_RATE" 'BEGIN { printf "%.2f", a / b }')
  RESULTS+=("$N $MSG_SIZE $IMPORT_S $BW_RATE $SRC_RATE $RATIO $RSS_MIB")
  [[ ${BOOKWEEK_BENCH_KEEP:-0} == 1 ]] || rm -rf "$RUN"
done

echo
printf '%-9s %9s %9s %14s %17s %6s %16s\n' N "msg bytes" "import s" "bookweek msg/s" "smtp-source msg/s" ratio "peak RSS MiB"
for r in "${RESULTS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-9s %9s %9s %14s %17s %6s %16s\n' $r
done

if ((SINK_ONLY == 0)); then
  echo
  for r in "${RESULTS[@]}"; do
    read -r n _ _ _ _ ratio _ <<<"$r"
    awk -v n="$n" -v r="$ratio" 'BEGIN { printf "target ratio >= 0.8 at N=%s: %s (%s)\n", n, r, (r >= 0.8 ? "met" : "MISSED") }'
  done
  if ((${#RESULTS[@]} > 1)); then
    read -r n_lo _ _ _ _ _ rss_lo <<<"${RESULTS[0]}"
    read -r n_hi _ _ _ _ _ rss_hi <<<"${RESULTS[${#RESULTS[@]} - 1]}"
    awk -v a="$rss_lo" -v b="$rss_hi" -v na="$n_lo" -v nb="$n_hi" 'BEGIN {
      printf "target peak RSS(N=%s) <= 1.2 x RSS(N=%s): %.2fx (%s)\n", nb, na, b / a, (b / a <= 1.2 ? "met" : "MISSED") }'
  fi
fi
