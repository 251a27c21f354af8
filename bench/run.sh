#!/usr/bin/env bash
# Load test of tocsin: intake throughput/latency and webhook delivery, on
# SQLite and (when reachable) PostgreSQL. Prints Markdown on stdout for
# BENCHMARKS.md; progress and diagnostics go to stderr.
#
# Knobs (environment):
#   BENCH_N            alerts of the max-rate scenario        (default 20000)
#   BENCH_CONCURRENCY  requests in flight, max-rate scenario  (default 64)
#   BENCH_RATE         alerts/s of the fixed-rate scenario    (default 500)
#   BENCH_DURATION     length of the fixed-rate scenario      (default 20s)
#   BENCH_WAIT         how long to wait for all deliveries    (default 60s)
#   BENCH_BACKENDS     backends to try                        (default "sqlite postgres")
#   BENCH_PG           psql connection options                (default "-h 127.0.0.1 -p 5432 -U postgres -d test")
#   BENCH_PG_URL       the same database as a URL             (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
#   BENCH_KEEP         directory to copy JSON results, per-alert delivery CSVs and server logs to (default: none)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCH_N=${BENCH_N:-20000}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-64}
BENCH_RATE=${BENCH_RATE:-500}
BENCH_DURATION=${BENCH_DURATION:-20s}
BENCH_WAIT=${BENCH_WAIT:-60s}
BENCH_BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
BENCH_PG=${BENCH_PG:--h 127.0.0.1 -p 5432 -U postgres -d test}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
BENCH_KEEP=${BENCH_KEEP:-}

INGEST_TOKEN=bench-ingest-token
SECRET=bench-secret

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench.XXXXXX")
pids=()
schema=""

log() { echo "bench: $*" >&2; }

# ours PID: whether PID is still a live child of this script (so a
# recycled process id is never signalled).
ours() {
	local stat state ppid
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	read -r state ppid _ <<<"$stat"
	[[ $ppid == "$$" && $state != Z ]]
}

# stop PID: SIGTERM, then SIGKILL after 10 s.
stop() {
	local pid=$1 i
	if ours "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			ours "$pid" || break
			sleep 0.1
		done
		if ours "$pid"; then
			log "process $pid ignored SIGTERM for 10s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

drop_schema() {
	if [[ -n $schema ]]; then
		# shellcheck disable=SC2086
		psql $BENCH_PG -v ON_ERROR_STOP=1 -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 ||
			log "could not drop schema $schema"
		schema=""
	fi
}

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		stop "$pid"
	done
	pids=()
	drop_schema
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port prints a TCP port nothing listens on, below Linux's ephemeral
# range so that no outgoing connection holds it either.
free_port() {
	local p eph lo=20000 hi=32000
	if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
		read -r eph _ </proc/sys/net/ipv4/ip_local_port_range
		if ((eph > 11000)); then
			hi=$((eph - 1))
			lo=$((eph > 21000 ? 10000 : 1025))
		fi
	fi
	while :; do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# wait_http URL SECONDS PID: wait until URL answers 200 while PID lives.
wait_http() {
	local url=$1 secs=$2 pid=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

log "building into $tmp"
for target in tocsin:./cmd/tocsin load:./bench/load sink:./bench/sink; do
	if ! go build -o "$tmp/${target%%:*}" "${target#*:}"; then
		log "${target#*:} does not build"
		exit 1
	fi
done

rows="$tmp/rows.md"
notes="$tmp/notes.md"
: >"$rows"
: >"$notes"

# run_backend NAME: start a sink and tocsin on NAME, run both scenarios.
run_backend() {
	local name=$1 dir="$tmp/$1" db port sinkport sinkpid tpid try
	mkdir -p "$dir/data"

	case $name in
	sqlite) db="sqlite://$dir/tocsin.db" ;;
	postgres)
		schema="bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
		# shellcheck disable=SC2086
		psql $BENCH_PG -v ON_ERROR_STOP=1 -qc "CREATE SCHEMA $schema" >/dev/null
		if [[ $BENCH_PG_URL == *\?* ]]; then db="$BENCH_PG_URL&search_path=$schema"; else db="$BENCH_PG_URL?search_path=$schema"; fi
		;;
	*)
		log "unknown backend $name"
		return 1
		;;
	esac

	# The sink picks its own port and says which.
	"$tmp/sink" -addr 127.0.0.1:0 -addr-file "$dir/sink.addr" -secret "$SECRET" 2>"$dir/sink.log" &
	sinkpid=$!
	pids+=("$sinkpid")
	for ((try = 0; try < 100; try++)); do
		[[ -s $dir/sink.addr ]] && break
		sleep 0.1
	done
	if [[ ! -s $dir/sink.addr ]] || ! wait_http "http://$(<"$dir/sink.addr")/stats" 10 "$sinkpid"; then
		log "the sink did not start:"
		cat "$dir/sink.log" >&2
		return 1
	fi
	sinkport=$(sed -E 's/.*://' "$dir/sink.addr")

	# tocsin needs its port in its config: pick one, and another if it
	# turns out to be taken.
	for ((try = 1; ; try++)); do
		port=$(free_port)
		cat >"$dir/config.yaml" <<EOF
public_host: http://127.0.0.1:$port
data_dir: $dir/data
log: {level: warn}
ingest: {tokens: ["$INGEST_TOKEN"]}
api: {tokens: ["bench-api-token"]}
alert:
  webhook:
    enable: true
    url: http://127.0.0.1:$sinkport/hook
    secret: $SECRET
EOF
		log "$name: starting tocsin on 127.0.0.1:$port"
		"$tmp/tocsin" serve --config "$dir/config.yaml" --addr "127.0.0.1:$port" --database "$db" >"$dir/tocsin.log" 2>&1 &
		tpid=$!
		pids+=("$tpid")
		if wait_http "http://127.0.0.1:$port/readyz" 60 "$tpid"; then
			break
		fi
		stop "$tpid"
		unset 'pids[-1]'
		if ((try < 3)) && grep -q 'address already in use' "$dir/tocsin.log"; then
			log "$name: port $port is taken; trying another"
			continue
		fi
		log "$name: tocsin did not become ready; its log:"
		tail -n 50 "$dir/tocsin.log" >&2
		echo "- **$name**: tocsin did not become ready (see its log); backend skipped" >>"$notes"
		stop "$sinkpid"
		pids=()
		drop_schema
		return 0
	done

	local common=(-url "http://127.0.0.1:$port" -token "$INGEST_TOKEN" -sink "http://127.0.0.1:$sinkport"
		-wait "$BENCH_WAIT" -out markdown -backend "$name" -notes "$notes" -server-pid "$tpid")

	log "$name: max rate, $BENCH_N alerts at concurrency $BENCH_CONCURRENCY"
	"$tmp/load" "${common[@]}" -n "$BENCH_N" -concurrency "$BENCH_CONCURRENCY" \
		-scenario "max rate, c=$BENCH_CONCURRENCY" -json "$dir/max.json" >>"$rows"
	tail -n 1 "$rows" >&2
	keep_deliveries "$sinkport" "$dir/max-deliveries.csv"
	check_alive "$name" "$tpid" "max rate"

	log "$name: fixed rate, $BENCH_RATE/s for $BENCH_DURATION"
	"$tmp/load" "${common[@]}" -rate "$BENCH_RATE" -duration "$BENCH_DURATION" \
		-scenario "$BENCH_RATE/s for $BENCH_DURATION" -json "$dir/fixed.json" >>"$rows"
	tail -n 1 "$rows" >&2
	keep_deliveries "$sinkport" "$dir/fixed-deliveries.csv"
	check_alive "$name" "$tpid" "fixed rate"

	stop "$tpid"
	stop "$sinkpid"
	pids=()
	drop_schema

	# What tocsin complained about (the log level is warn).
	local n
	n=$(grep -ciE 'level=(warn|error)|"level":"(warn|error)"|panic|fatal' "$dir/tocsin.log" || true)
	if [[ $n -gt 0 ]]; then
		echo "- **$name**: tocsin logged $n warning/error lines, e.g.:" >>"$notes"
		grep -iE 'level=(warn|error)|"level":"(warn|error)"|panic|fatal' "$dir/tocsin.log" |
			sed -E 's/time=[^ ]+ //' | sort | uniq -c | sort -rn | head -n 5 |
			sed -E 's/^ *([0-9]+) (.*)$/  - ×\1 `\2`/' | cut -c1-400 >>"$notes" || true
	fi
	if [[ -n $BENCH_KEEP ]]; then
		mkdir -p "$BENCH_KEEP/$name"
		cp "$dir"/*.json "$dir"/*.csv "$dir"/*.log "$dir/config.yaml" "$BENCH_KEEP/$name/" 2>/dev/null || true
	fi
}

# keep_deliveries SINKPORT FILE: with BENCH_KEEP, save the sink's
# per-alert arrival times.
keep_deliveries() {
	if [[ -n $BENCH_KEEP ]]; then
		curl -fsS --max-time 30 -o "$2" "http://127.0.0.1:$1/deliveries" || log "could not save $2"
	fi
}

# check_alive NAME PID SCENARIO: note it when tocsin died.
check_alive() {
	if ! kill -0 "$2" 2>/dev/null; then
		log "$1: tocsin exited during $3; its log:"
		tail -n 50 "$tmp/$1/tocsin.log" >&2
		echo "- **$1**: tocsin exited during the $3 scenario" >>"$notes"
	fi
}

# The machine.
echo "## Load test"
echo
echo "Machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -nE 's/^Model name: *//p' | head -n 1), $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), $(go version | awk '{print $3, $4}'), $(uname -sr)."
echo
echo '```'
echo "\$ nproc"
nproc
echo "\$ lscpu | grep 'Model name'"
lscpu | grep 'Model name' || true
echo "\$ free -g"
free -g
echo "\$ go version"
go version
echo '```'
echo
echo "tocsin, the load generator and the webhook sink all run on this machine. Max rate: $BENCH_N alerts, closed loop, $BENCH_CONCURRENCY in flight. Fixed rate: $BENCH_RATE alerts/s for $BENCH_DURATION, open loop (latency from the intended send time). Each alert opens a new incident and one webhook delivery."
echo

for backend in $BENCH_BACKENDS; do
	if [[ $backend == postgres ]]; then
		# shellcheck disable=SC2086
		if ! psql $BENCH_PG -qAtc 'select 1' >/dev/null 2>&1; then
			log "postgres: not reachable with psql $BENCH_PG; skipped"
			echo "- **postgres**: skipped, \`psql $BENCH_PG\` could not connect" >>"$notes"
			continue
		fi
	fi
	run_backend "$backend"
done

"$tmp/load" -md-header
cat "$rows"
echo
echo "accepted/s: 2xx answers per second of wall time (first send to last answer). Accept latency: from the intended send time to tocsin's 2xx answer, when the alert is durably committed. delivered/s: unique webhooks per second between the first and the last arrival at the sink. Delivery latency: from the intended send time to the webhook's arrival at the sink. tocsin CPU: user+system time of the server from the start of the scenario until all its webhooks arrived; RSS: the largest resident set seen. Latencies in ms."
if [[ -s $notes ]]; then
	echo
	echo "Notes:"
	echo
	cat "$notes"
fi
