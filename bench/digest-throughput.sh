#!/usr/bin/env bash
# Digest throughput benchmark (not a test): bookweek vs Postfix's smtp-source,
# both sending into the same smtp-sink on loopback. See bench/README.md.
#
#   bench/digest-throughput.sh [--sink-only] [--size BYTES] [--sizes 10k,31k] [--runs R] [N ...]   (default N: 100000)
#
# For each message size (10k: a real book's digest of about 10 KB; 31k: the
# shipped example's, 31 KB) and each N: import N subscribers, then R times
# (default 3), alternating, send one digest to all of them with `bookweek
# digest send` under /usr/bin/time -v and send N messages of the same size
# over the same number of connections with smtp-source; print the median
# rate of each, their ratio and bookweek's peak RSS. --sink-only skips
# bookweek (smtp-source half only; message size from --size, default 15000).
# Env: BOOKWEEK_BENCH_KEEP=1 keeps the temporary directory; BOOKWEEK_BIN=PATH
# uses that binary instead of `cargo build --release`; BOOKWEEK_BENCH_CONNECTIONS
# (default 4) sets mail.connections and smtp-source's session count.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNECTIONS=${BOOKWEEK_BENCH_CONNECTIONS:-4}
FROM_ADDR=digest@example.org
SOURCE_HEADER_BYTES=133 # From/To/Date/Message-Id smtp-source adds around its -l payload
TARGET=0.9

usage() { sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2; }
die() { echo "digest-throughput: $*" >&2; exit 1; }

SINK_ONLY=0
SIZE=
SIZES=10k,31k
RUNS=3
COUNTS=()
while (($#)); do
  case $1 in
    --sink-only) SINK_ONLY=1 ;;
    --size) SIZE=${2:?--size needs BYTES}; shift ;;
    --sizes) SIZES=${2:?--sizes needs a list, e.g. 10k,31k}; shift ;;
    --runs) RUNS=${2:?--runs needs a count}; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [[ $1 =~ ^[1-9][0-9]*$ ]] || die "not a count: $1"; COUNTS+=("$1") ;;
  esac
  shift
done
((${#COUNTS[@]})) || COUNTS=(100000)
[[ -z $SIZE || $SIZE =~ ^[1-9][0-9]*$ ]] || die "--size wants a byte count"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a count"
IFS=, read -r -a SIZE_NAMES <<<"$SIZES"
for s in "${SIZE_NAMES[@]}"; do [[ $s == 10k || $s == 31k ]] || die "unknown size $s (10k or 31k)"; done
if ((SINK_ONLY)) || [[ -n $SIZE ]]; then
  SIZE=${SIZE:-15000}
  SIZE_NAMES=(fixed)
fi

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
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Bytes on the wire of a message file: LF-only lines count as CRLF.
wire_size() {
  local bytes lf crlf
  bytes=$(wc -c <"$1")
  lf=$(tr -cd '\n' <"$1" | wc -c)
  crlf=$(grep -c $'\r$' "$1" || true)
  echo $((bytes + lf - crlf))
}

# The site of one message size: content folder, `--now` of a Monday 09:00
# tick with a digest due, and extra `digest:` keys.
#   10k: one real book of the test corpus (tests/fixtures/corpus), its best
#        answer only: about 10 KB on the wire.
#   31k: the shipped example (content/), five best answers: about 31 KB.
setup_content() { # NAME DIR -> sets CONTENT NOW DIGEST_KEYS
  case $1 in
    10k)
      CONTENT=$2/content
      mkdir -p "$CONTENT/books"
      cp -r "$REPO/tests/fixtures/corpus/people" "$CONTENT/"
      cp "$REPO/tests/fixtures/corpus/books/20211018-blueprints-for-text-analytics-using-python.md" "$CONTENT/books/"
      NOW=2021-10-25T09:00:00+02:00
      DIGEST_KEYS=", answers: 1"
      ;;
    *)
      CONTENT=$REPO/content
      NOW=2022-12-12T09:00:00+01:00 # right after the shipped example's week closed
      DIGEST_KEYS=
      ;;
  esac
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

echo "smtp-sink on 127.0.0.1:$PORT (pid $SINK_PID), $CONNECTIONS connections, $RUNS runs each, $(nproc) cores, load average$(uptime | sed 's/.*load average//')"
echo "commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)'), $(date -u +%Y-%m-%dT%H:%MZ)"

RESULTS=()
for SIZE_NAME in "${SIZE_NAMES[@]}"; do
  for N in "${COUNTS[@]}"; do
    RUN=$WORK/$SIZE_NAME-n$N
    mkdir -p "$RUN"
    BW_RATES=() SRC_RATES=() RSS_KIB=()
    IMPORT_S=-
    MSG_SIZE=$SIZE

    if ((SINK_ONLY == 0)); then
      setup_content "$SIZE_NAME" "$RUN"
      mkdir -p "$RUN/config" "$RUN/templates" "$RUN/public" "$RUN/preview"
      CFG=$RUN/config/bookweek.yaml
      cat >"$CFG" <<EOF
paths: {content: $CONTENT, state: $RUN/state.db, output: $RUN/public, templates: $RUN/templates}
mail: {url: "smtp://127.0.0.1:$PORT", from: "Book of the Week <$FROM_ADDR>", connections: $CONNECTIONS}
digest: {schedule: "0 0 9 * * Mon"$DIGEST_KEYS}
EOF
      awk -v n="$N" 'BEGIN { print "email,name"; for (i = 1; i <= n; i++) printf "sub%06d@example.net,Subscriber %d\n", i, i }' \
        >"$RUN/subscribers.csv"
      t0=$(now_ns)
      "$BIN" --config "$CFG" --now "$NOW" subscribers import "$RUN/subscribers.csv" >"$RUN/import.log" 2>&1 ||
        { tail -n 20 "$RUN/import.log" >&2; die "subscribers import failed (N=$N)"; }
      IMPORT_S=$(seconds_since "$t0")
      rm -f "$RUN/subscribers.csv"
      echo "$SIZE_NAME N=$N: imported in ${IMPORT_S}s: $(tail -n 1 "$RUN/import.log")"
      # Every run starts from this copy: the digest is created and sent anew.
      cp "$RUN/state.db" "$RUN/state.imported"

      if [[ -z $MSG_SIZE ]]; then
        "$BIN" --config "$CFG" --now "$NOW" digest preview --out "$RUN/preview" >"$RUN/preview.log" 2>&1 ||
          { tail -n 20 "$RUN/preview.log" >&2; die "digest preview failed (pass --size BYTES to skip it)"; }
        EML=$(find "$RUN/preview" -name '*.eml' -type f | sort | head -n 1)
        [[ -n $EML ]] || die "digest preview wrote no .eml into $RUN/preview (pass --size BYTES)"
        MSG_SIZE=$(wire_size "$EML")
      fi
    fi
    PAYLOAD=$((MSG_SIZE > SOURCE_HEADER_BYTES ? MSG_SIZE - SOURCE_HEADER_BYTES : 1))

    for r in $(seq 1 "$RUNS"); do
      if ((SINK_ONLY == 0)); then
        cp "$RUN/state.imported" "$RUN/state.db"
        rm -f "$RUN/state.db-wal" "$RUN/state.db-shm"
        before=$(sink_count)
        if ! /usr/bin/time -v -o "$RUN/bookweek.time" \
          "$BIN" --config "$CFG" --now "$NOW" digest send >"$RUN/send.log" 2>&1; then
          tail -n 20 "$RUN/send.log" >&2
          die "bookweek digest send failed (N=$N)"
        fi
        SENT=$(($(sink_count) - before))
        BW_WALL=$(wall_seconds "$RUN/bookweek.time")
        BW_RATES+=("$(awk -v n="$N" -v s="$BW_WALL" 'BEGIN { printf "%.0f", n / s }')")
        RSS_KIB+=("$(peak_rss_kib "$RUN/bookweek.time")")
        echo "$SIZE_NAME N=$N run $r: bookweek sent in ${BW_WALL}s, sink counted $SENT messages: $(grep -v '^[[:space:]]*$' "$RUN/send.log" | tail -n 1)"
        ((SENT == N)) || echo "$SIZE_NAME N=$N: WARNING: the sink counted $SENT messages, expected $N" >&2
      fi

      before=$(sink_count)
      /usr/bin/time -v -o "$RUN/source.time" "$SMTP_SOURCE" -s "$CONNECTIONS" -m "$N" -l "$PAYLOAD" -d \
        -f "$FROM_ADDR" -t sub@example.net "127.0.0.1:$PORT" >"$RUN/source.log" 2>&1 ||
        { tail -n 20 "$RUN/source.log" >&2; die "smtp-source failed (N=$N)"; }
      SRC_SENT=$(($(sink_count) - before))
      SRC_WALL=$(wall_seconds "$RUN/source.time")
      SRC_RATES+=("$(awk -v n="$N" -v s="$SRC_WALL" 'BEGIN { printf "%.0f", n / s }')")
      echo "$SIZE_NAME N=$N run $r: smtp-source sent in ${SRC_WALL}s, sink counted $SRC_SENT messages of $MSG_SIZE bytes"
      ((SRC_SENT == N)) || echo "$SIZE_NAME N=$N: WARNING: the sink counted $SRC_SENT messages, expected $N" >&2
    done

    SRC_RATE=$(echo "${SRC_RATES[*]}" | median)
    BW_RATE=- RATIO=- RSS_MIB=-
    if ((SINK_ONLY == 0)); then
      BW_RATE=$(echo "${BW_RATES[*]}" | median)
      RATIO=$(awk -v a="$BW_RATE" -v b="$SRC_RATE" 'BEGIN { printf "%.2f", a / b }')
      RSS_MIB=$(echo "${RSS_KIB[*]}" | tr ' ' '\n' | sort -g | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }')
      echo "$SIZE_NAME N=$N: bookweek ${BW_RATES[*]} msg/s, smtp-source ${SRC_RATES[*]} msg/s"
    fi
    RESULTS+=("$SIZE_NAME $N $MSG_SIZE $IMPORT_S $BW_RATE $SRC_RATE $RATIO $RSS_MIB")
    [[ ${BOOKWEEK_BENCH_KEEP:-0} == 1 ]] || rm -rf "$RUN"
  done
done

echo
echo "medians of $RUNS runs, $CONNECTIONS connections, load average at the end$(uptime | sed 's/.*load average//')"
printf '%-6s %-9s %9s %9s %14s %17s %6s %13s\n' size N "msg bytes" "import s" "bookweek msg/s" "smtp-source msg/s" ratio "peak RSS MiB"
for r in "${RESULTS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-6s %-9s %9s %9s %14s %17s %6s %13s\n' $r
done

if ((SINK_ONLY == 0)); then
  echo
  for r in "${RESULTS[@]}"; do
    read -r size n _ _ _ _ ratio _ <<<"$r"
    awk -v s="$size" -v n="$n" -v r="$ratio" -v t="$TARGET" 'BEGIN {
      printf "target ratio >= %s at %s, N=%s: %s (%s)\n", t, s, n, r, (r >= t ? "met" : "MISSED") }'
  done
  if ((${#COUNTS[@]} > 1)); then
    for s in "${SIZE_NAMES[@]}"; do
      lo= hi=
      for r in "${RESULTS[@]}"; do
        read -r size n _ _ _ _ _ rss <<<"$r"
        [[ $size == "$s" ]] || continue
        [[ -n $lo ]] || lo="$n $rss"
        hi="$n $rss"
      done
      read -r n_lo rss_lo <<<"$lo"
      read -r n_hi rss_hi <<<"$hi"
      awk -v a="$rss_lo" -v b="$rss_hi" -v na="$n_lo" -v nb="$n_hi" -v s="$s" 'BEGIN {
        printf "target peak RSS(N=%s) <= 1.2 x RSS(N=%s) at %s: %.2fx (%s)\n", nb, na, s, b / a, (b / a <= 1.2 ? "met" : "MISSED") }'
    done
  fi
fi
