#!/usr/bin/env bash
# Benchmarks of a real `tocsin serve` (issue 13's target table), on SQLite
# and (when reachable) PostgreSQL. Prints Markdown on stdout for
# BENCHMARKS.md: the machine, the targets table, then each tool's own rows;
# progress and diagnostics go to stderr.
#
# Scenarios (BENCH_SCENARIOS, default all of them):
#   intake   durable intake, a new incident per alert, no channel; beside the
#            trivial net/http handler (bench/trivial), BENCH_RUNS runs each
#   repeat   one Alertmanager group re-sent (deduplicated repeats) and the
#            payload rows and bytes the database gains
#   deliver  a webhook channel, intake at full speed: delivered/s and the
#            backlog when the intake ends (intake paced, the default); then
#            again with pacing off (ingest.pace.backlog: 0) and the drain
#            of the backlog it leaves: drained/s, tocsin CPU per delivery
#   fixed    alert → first webhook delivery at BENCH_RATE/s
#   timers   BENCH_TIMERS escalation timers due within the same minute
#   wake     two instances on one PostgreSQL: A's 2xx → B's delivery, and
#            A's 2xx → B's escalation of a timer due at once
#   startup  start-up to ready and idle RSS (SQLite)
#
# Knobs (environment):
#   BENCH_RUNS         runs of the intake, each side           (default 3)
#   BENCH_N            alerts of an intake run and of deliver   (default 20000)
#   BENCH_TRIVIAL_N    requests of a trivial-handler run        (default 5 × BENCH_N)
#   BENCH_REPEAT_N     repeats of the one group                 (default BENCH_N)
#   BENCH_CONCURRENCY  requests in flight, closed loop          (default 64)
#   BENCH_RATE         alerts/s of the fixed-rate scenario      (default 500)
#   BENCH_DURATION     length of the fixed-rate scenario        (default 20s)
#   BENCH_WAIT         how long to wait for all deliveries      (default 120s)
#   BENCH_TIMERS       escalation timers                        (default 10000)
#   BENCH_TIMER_WAIT   their on-call wait, minutes (fractions ok) (default 1)
#   BENCH_WAKE_N       alerts of the two-instance scenario      (default 200)
#   BENCH_WAKE_RATE    their rate, alerts/s                     (default 20)
#   BENCH_WAKE_TIMER_N alerts of the two-instance timer variant (default 60: A's held PagerDuty calls time out after 10 s)
#   BENCH_STARTS       timed starts                             (default 5)
#   BENCH_IDLE         idle time before reading VmRSS           (default 5s)
#   BENCH_SCENARIOS    scenarios to run                         (default "intake repeat deliver fixed timers wake startup")
#   BENCH_BACKENDS     backends to try                          (default "sqlite postgres")
#   BENCH_PG           psql connection options                  (default "-h 127.0.0.1 -p 5432 -U postgres -d test")
#   BENCH_PG_URL       the same database as a URL               (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
#   BENCH_KEEP         directory to copy JSON results, per-alert delivery CSVs and server logs to (default: none)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_N=${BENCH_N:-20000}
BENCH_TRIVIAL_N=${BENCH_TRIVIAL_N:-$((5 * BENCH_N))}
BENCH_REPEAT_N=${BENCH_REPEAT_N:-$BENCH_N}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-64}
BENCH_RATE=${BENCH_RATE:-500}
BENCH_DURATION=${BENCH_DURATION:-20s}
BENCH_WAIT=${BENCH_WAIT:-120s}
BENCH_TIMERS=${BENCH_TIMERS:-10000}
BENCH_TIMER_WAIT=${BENCH_TIMER_WAIT:-1}
BENCH_WAKE_N=${BENCH_WAKE_N:-200}
BENCH_WAKE_RATE=${BENCH_WAKE_RATE:-20}
BENCH_WAKE_TIMER_N=${BENCH_WAKE_TIMER_N:-60}
BENCH_STARTS=${BENCH_STARTS:-5}
BENCH_IDLE=${BENCH_IDLE:-5s}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-intake repeat deliver fixed timers wake startup}
BENCH_BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
BENCH_PG=${BENCH_PG:--h 127.0.0.1 -p 5432 -U postgres -d test}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
BENCH_KEEP=${BENCH_KEEP:-}

INGEST_TOKEN=bench-ingest-token
API_TOKEN=bench-api-token
SECRET=bench-secret

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench.XXXXXX")
results="$tmp/results"
pids=()
schemas=()

log() { echo "bench: $*" >&2; }

# want SCENARIO: whether BENCH_SCENARIOS lists it.
want() { [[ " $BENCH_SCENARIOS " == *" $1 "* ]]; }

# ours PID: whether PID is still a live child of this script (so a
# recycled process id is never signalled).
ours() {
	local stat state ppid
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	read -r state ppid _ <<<"$stat"
	[[ $ppid == "$$" && $state != Z ]]
}

# stop PID: SIGTERM, then SIGKILL after 10 s; forgets PID.
stop() {
	local pid=$1 i keep=()
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
	for i in "${pids[@]}"; do
		[[ $i == "$pid" ]] || keep+=("$i")
	done
	pids=("${keep[@]}")
}

# psql_q SQL: run SQL on the PostgreSQL database, unaligned output.
psql_q() {
	# shellcheck disable=SC2086
	psql $BENCH_PG -v ON_ERROR_STOP=1 -qAtc "$1"
}

drop_schemas() {
	local s
	for s in "${schemas[@]}"; do
		psql_q "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || log "could not drop schema $s"
	done
	schemas=()
}

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		stop "$pid"
	done
	drop_schemas
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
for target in tocsin:./cmd/tocsin load:./bench/load sink:./bench/sink trivial:./bench/trivial timers:./bench/timers \
	wake:./bench/wake startup:./bench/startup report:./bench/report; do
	if ! go build -o "$tmp/${target%%:*}" "${target#*:}"; then
		log "${target#*:} does not build"
		exit 1
	fi
done

notes="$tmp/notes.md"
: >"$notes"
for t in load timers wake startup; do : >"$tmp/rows-$t.md"; done

# new_db BACKEND DIR: a database of its own for one tocsin (a file, or a
# new PostgreSQL schema dropped at the end); sets db.
new_db() {
	case $1 in
	sqlite) db="sqlite://$2/tocsin.db" ;;
	postgres)
		local s
		s="bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
		psql_q "CREATE SCHEMA $s" >/dev/null
		schemas+=("$s")
		db_schema=$s
		if [[ $BENCH_PG_URL == *\?* ]]; then db="$BENCH_PG_URL&search_path=$s"; else db="$BENCH_PG_URL?search_path=$s"; fi
		;;
	*)
		log "unknown backend $1"
		return 1
		;;
	esac
}

# start_bg NAME DIR CMD…: start a helper that writes its address to
# DIR/NAME.addr; sets bgpid and bgaddr.
start_bg() {
	local name=$1 dir=$2 try
	shift 2
	"$@" -addr 127.0.0.1:0 -addr-file "$dir/$name.addr" 2>"$dir/$name.log" &
	bgpid=$!
	pids+=("$bgpid")
	for ((try = 0; try < 100; try++)); do
		[[ -s $dir/$name.addr ]] && break
		sleep 0.1
	done
	if [[ ! -s $dir/$name.addr ]] || ! kill -0 "$bgpid" 2>/dev/null; then
		log "$name did not start:"
		cat "$dir/$name.log" >&2
		return 1
	fi
	bgaddr=$(<"$dir/$name.addr")
}

# start_tocsin LABEL DIR DB EXTRA_YAML [INGEST_KEYS]: start tocsin on DB
# with the base configuration plus EXTRA_YAML (INGEST_KEYS: more keys of
# the ingest block, in flow form: ", pace: {backlog: 0}"), wait for
# /readyz; sets tpid and turl. Returns 1 (with a note) when it does not
# become ready.
start_tocsin() {
	local label=$1 dir=$2 db=$3 extra=$4 ingest=${5:-} port try
	mkdir -p "$dir/data"
	for ((try = 1; ; try++)); do
		port=$(free_port)
		cat >"$dir/config.yaml" <<EOF
public_host: http://127.0.0.1:$port
data_dir: $dir/data
log: {level: warn}
ingest: {tokens: ["$INGEST_TOKEN"]$ingest}
api: {tokens: ["$API_TOKEN"]}
$extra
EOF
		"$tmp/tocsin" serve --config "$dir/config.yaml" --addr "127.0.0.1:$port" --database "$db" >"$dir/tocsin.log" 2>&1 &
		tpid=$!
		pids+=("$tpid")
		turl="http://127.0.0.1:$port"
		if wait_http "$turl/readyz" 60 "$tpid"; then
			return 0
		fi
		stop "$tpid"
		if ((try < 3)) && grep -q 'address already in use' "$dir/tocsin.log"; then
			log "$label: port $port is taken; trying another"
			continue
		fi
		log "$label: tocsin did not become ready; its log:"
		tail -n 50 "$dir/tocsin.log" >&2
		echo "- **$label**: tocsin did not become ready (see its log); scenario skipped" >>"$notes"
		return 1
	done
}

# stop_tocsin LABEL DIR: stop tocsin and note what it logged (the level is
# warn) or that it died.
stop_tocsin() {
	local label=$1 dir=$2 n
	if ! kill -0 "$tpid" 2>/dev/null; then
		echo "- **$label**: tocsin exited during the scenario" >>"$notes"
		tail -n 50 "$dir/tocsin.log" >&2
	fi
	stop "$tpid"
	# Scenarios without a channel have none on purpose: that warning is
	# expected.
	complaints() {
		grep -iE 'level=(warn|error)|"level":"(warn|error)"|panic|fatal' "$dir/tocsin.log" |
			grep -v 'no notification channel is enabled' || true
	}
	n=$(complaints | wc -l)
	if [[ $n -gt 0 ]]; then
		echo "- **$label**: tocsin logged $n warning/error lines, e.g.:" >>"$notes"
		complaints |
			sed -E 's/time=[^ ]+ //' | sort | uniq -c | sort -rn | head -n 5 |
			sed -E 's/^ *([0-9]+) (.*)$/  - ×\1 `\2`/' | cut -c1-400 >>"$notes" || true
	fi
	keep "$dir" "$label"
}

# keep DIR LABEL: with BENCH_KEEP, copy DIR's logs, configuration and CSVs.
keep() {
	if [[ -n $BENCH_KEEP ]]; then
		local to="$BENCH_KEEP/${2//[^A-Za-z0-9_-]/_}"
		mkdir -p "$to"
		cp "$1"/*.log "$1"/*.csv "$1"/config.yaml "$to/" 2>/dev/null || true
	fi
}

# load ARGS…: the load tool against tocsin, one row for the load table.
load() {
	"$tmp/load" -token "$INGEST_TOKEN" -out markdown -notes "$notes" "$@" >>"$tmp/rows-load.md"
	tail -n 1 "$tmp/rows-load.md" >&2
}

# db_size BACKEND DIR: payload rows and bytes of the database, "ROWS BYTES".
db_size() {
	local rows bytes
	case $1 in
	sqlite)
		rows=$(sqlite3 -readonly "$2/tocsin.db" 'SELECT COUNT(*) FROM payloads')
		bytes=$(stat -c %s "$2/tocsin.db" "$2/tocsin.db-wal" 2>/dev/null | awk '{s += $1} END {print s + 0}')
		;;
	postgres)
		rows=$(psql_q "SELECT COUNT(*) FROM $db_schema.payloads")
		bytes=$(psql_q "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$db_schema' AND c.relkind = 'r'")
		;;
	esac
	echo "$rows $bytes"
}

# scenario_intake BACKEND: BENCH_RUNS runs of tocsin (each on a new
# database, no channel) and of the trivial handler, interleaved.
scenario_intake() {
	local name=$1 i dir tdir
	tdir="$tmp/$name/trivial"
	mkdir -p "$tdir"
	start_bg trivial "$tdir" "$tmp/trivial" || return 0
	local trivpid=$bgpid trivaddr=$bgaddr
	for ((i = 1; i <= BENCH_RUNS; i++)); do
		log "$name: intake run $i/$BENCH_RUNS: trivial handler, $BENCH_TRIVIAL_N requests at concurrency $BENCH_CONCURRENCY"
		load -url "http://$trivaddr" -n "$BENCH_TRIVIAL_N" -concurrency "$BENCH_CONCURRENCY" -server-pid "$trivpid" \
			-backend "$name" -scenario "trivial handler, run $i" -json "$results/$name/intake-trivial-$i.json"
		dir="$tmp/$name/intake-$i"
		mkdir -p "$dir"
		new_db "$name" "$dir"
		start_tocsin "$name, intake $i" "$dir" "$db" "" || continue
		log "$name: intake run $i/$BENCH_RUNS: tocsin, $BENCH_N alerts at concurrency $BENCH_CONCURRENCY, no channel"
		load -url "$turl" -n "$BENCH_N" -concurrency "$BENCH_CONCURRENCY" -server-pid "$tpid" \
			-backend "$name" -scenario "intake, no channel, run $i" -json "$results/$name/intake-tocsin-$i.json"
		stop_tocsin "$name, intake $i" "$dir"
	done
	stop "$trivpid"
}

# scenario_repeat BACKEND: one group re-sent BENCH_REPEAT_N times, and
# what the database gained.
scenario_repeat() {
	local name=$1 dir="$tmp/$1/repeat" before after rb bb ra ba
	mkdir -p "$dir"
	new_db "$name" "$dir"
	start_tocsin "$name, repeats" "$dir" "$db" "" || return 0
	before=$(db_size "$name" "$dir")
	log "$name: $BENCH_REPEAT_N repeats of one group at concurrency $BENCH_CONCURRENCY"
	load -url "$turl" -repeat -n "$BENCH_REPEAT_N" -concurrency "$BENCH_CONCURRENCY" -server-pid "$tpid" \
		-backend "$name" -scenario "one group re-sent" -json "$results/$name/repeat.json"
	after=$(db_size "$name" "$dir")
	read -r rb bb <<<"$before"
	read -r ra ba <<<"$after"
	printf '{"repeats": %d, "payload_rows_before": %d, "payload_rows_after": %d, "bytes_before": %d, "bytes_after": %d}\n' \
		"$BENCH_REPEAT_N" "$rb" "$ra" "$bb" "$ba" >"$results/$name/repeat-growth.json"
	log "$name: payload rows $rb → $ra, database bytes $bb → $ba"
	stop_tocsin "$name, repeats" "$dir"
}

# scenario_deliveries BACKEND: a webhook channel to the sink; the max-rate
# intake (deliver) and the fixed rate (fixed) on the same database.
scenario_deliveries() {
	local name=$1 dir="$tmp/$1/deliver" sinkpid sinkaddr
	mkdir -p "$dir"
	start_bg sink "$dir" "$tmp/sink" -secret "$SECRET" || return 0
	sinkpid=$bgpid sinkaddr=$bgaddr
	new_db "$name" "$dir"
	start_tocsin "$name, deliveries" "$dir" "$db" "alert:
  webhook:
    enable: true
    url: http://$sinkaddr/hook
    secret: $SECRET" || {
		stop "$sinkpid"
		return 0
	}
	local common=(-url "$turl" -sink "http://$sinkaddr" -wait "$BENCH_WAIT" -backend "$name" -server-pid "$tpid")
	if want deliver; then
		log "$name: webhook channel, $BENCH_N alerts at concurrency $BENCH_CONCURRENCY"
		load "${common[@]}" -n "$BENCH_N" -concurrency "$BENCH_CONCURRENCY" \
			-scenario "webhook, max rate, c=$BENCH_CONCURRENCY" -json "$results/$name/deliver.json"
		save_deliveries "$sinkaddr" "$dir/deliver-deliveries.csv"
	fi
	if want fixed; then
		log "$name: webhook channel, $BENCH_RATE/s for $BENCH_DURATION"
		load "${common[@]}" -rate "$BENCH_RATE" -duration "$BENCH_DURATION" \
			-scenario "webhook, $BENCH_RATE/s for $BENCH_DURATION" -json "$results/$name/fixed.json"
		save_deliveries "$sinkaddr" "$dir/fixed-deliveries.csv"
	fi
	stop_tocsin "$name, deliveries" "$dir"
	if want deliver; then
		# The drain of a whole backlog, pacing off: intake at full speed
		# leaves the outbox behind, then what deliveries cost is measured.
		dir="$tmp/$1/drain"
		mkdir -p "$dir"
		new_db "$name" "$dir"
		if start_tocsin "$name, drain" "$dir" "$db" "alert:
  webhook:
    enable: true
    url: http://$sinkaddr/hook
    secret: $SECRET" ", pace: {backlog: 0}"; then
			log "$name: webhook channel, pacing off, $BENCH_N alerts at concurrency $BENCH_CONCURRENCY"
			load -url "$turl" -sink "http://$sinkaddr" -wait "$BENCH_WAIT" -backend "$name" -server-pid "$tpid" \
				-n "$BENCH_N" -concurrency "$BENCH_CONCURRENCY" \
				-scenario "webhook, max rate, c=$BENCH_CONCURRENCY, pacing off" -json "$results/$name/drain.json"
			stop_tocsin "$name, drain" "$dir"
		fi
	fi
	stop "$sinkpid"
}

# save_deliveries ADDR FILE: with BENCH_KEEP, the sink's per-alert arrivals.
save_deliveries() {
	if [[ -n $BENCH_KEEP ]]; then
		curl -fsS --max-time 30 -o "$2" "http://$1/deliveries" || log "could not save $2"
	fi
}

# scenario_timers BACKEND: BENCH_TIMERS incidents, each arming an
# ack-or-escalate timer of BENCH_TIMER_WAIT minutes to a fake PagerDuty.
scenario_timers() {
	local name=$1 dir="$tmp/$1/timers" fakepid fakeaddr
	mkdir -p "$dir"
	start_bg fake "$dir" "$tmp/timers" fake || return 0
	fakepid=$bgpid fakeaddr=$bgaddr
	new_db "$name" "$dir"
	start_tocsin "$name, timers" "$dir" "$db" "oncall:
  enable: true
  wait_minutes: $BENCH_TIMER_WAIT
  provider: pagerduty
  pagerduty: {routing_key: bench-routing-key, api_url: http://$fakeaddr}" || {
		stop "$fakepid"
		return 0
	}
	log "$name: $BENCH_TIMERS alerts arming escalation timers of $BENCH_TIMER_WAIT min"
	load -url "$turl" -n "$BENCH_TIMERS" -concurrency "$BENCH_CONCURRENCY" -server-pid "$tpid" \
		-backend "$name" -scenario "$BENCH_TIMERS alerts arming timers" -json "$results/$name/timers-intake.json"
	log "$name: waiting for the timers to fire"
	if "$tmp/timers" report -fake "http://$fakeaddr" -api "$turl" -api-token "$API_TOKEN" \
		-wait "$(awk -v m="$BENCH_TIMER_WAIT" 'BEGIN {printf "%.3fs", m * 60}')" -timeout 120s -backend "$name" \
		-json "$results/$name/timers.json" >>"$tmp/rows-timers.md"; then
		tail -n 1 "$tmp/rows-timers.md" >&2
	else
		echo "- **$name, timers**: the report failed (see stderr)" >>"$notes"
	fi
	stop_tocsin "$name, timers" "$dir"
	stop "$fakepid"
}

# scenario_wake: two instances on one PostgreSQL schema, B running A's
# webhook notifications, then A's escalation timers due at once.
scenario_wake() {
	local work n out blockers
	for work in notify escalate; do
		local dir="$tmp/postgres/wake-$work"
		mkdir -p "$dir"
		new_db postgres "$dir"
		# Blockers fill A's lane: the webhook's 8 workers, the escalation
		# lane's 32 (escalations run four lanes wide).
		n=$BENCH_WAKE_N out=wake blockers=16
		if [[ $work == escalate ]]; then n=$BENCH_WAKE_TIMER_N out=wake-escalate blockers=64; fi
		log "postgres: two instances, $n alerts to A at $BENCH_WAKE_RATE/s, B runs their $work jobs"
		if "$tmp/wake" -tocsin "$tmp/tocsin" -database "$db" -dir "$dir" -work "$work" -n "$n" -blockers "$blockers" -rate "$BENCH_WAKE_RATE" \
			-json "$results/postgres/$out.json" >>"$tmp/rows-wake.md"; then
			tail -n 1 "$tmp/rows-wake.md" >&2
		else
			echo "- **postgres, two instances ($work)**: the measurement failed (see stderr)" >>"$notes"
		fi
		keep "$dir/a" "postgres, wake $work, A"
		keep "$dir/b" "postgres, wake $work, B"
	done
}

# scenario_startup: start-ups and idle RSS on SQLite.
scenario_startup() {
	local dir="$tmp/sqlite/startup"
	mkdir -p "$dir"
	log "sqlite: $BENCH_STARTS starts, $BENCH_IDLE idle each"
	if "$tmp/startup" -tocsin "$tmp/tocsin" -dir "$dir" -n "$BENCH_STARTS" -idle "$BENCH_IDLE" \
		-json "$results/sqlite/startup.json" >>"$tmp/rows-startup.md"; then
		tail -n 1 "$tmp/rows-startup.md" >&2
	else
		echo "- **sqlite, start-up**: the measurement failed (see stderr)" >>"$notes"
	fi
}

# run_backend NAME: every scenario asked for on NAME.
run_backend() {
	local name=$1
	mkdir -p "$results/$name"
	if want intake; then scenario_intake "$name"; fi
	if want repeat; then scenario_repeat "$name"; fi
	if want deliver || want fixed; then scenario_deliveries "$name"; fi
	if want timers; then scenario_timers "$name"; fi
	if want wake && [[ $name == postgres ]]; then scenario_wake; fi
	if want startup && [[ $name == sqlite ]]; then scenario_startup; fi
	drop_schemas
}

started=$(date +%s)
for backend in $BENCH_BACKENDS; do
	if [[ $backend == postgres ]] && ! psql_q 'select 1' >/dev/null 2>&1; then
		log "postgres: not reachable with psql $BENCH_PG; skipped"
		echo "- **postgres**: skipped, \`psql $BENCH_PG\` could not connect" >>"$notes"
		continue
	fi
	if [[ $backend == postgres ]]; then
		# Test suites create and drop a schema per test: the database's
		# catalogs grow dead rows (754 MB of them once) that slow every
		# new connection's first statements. Vacuum them first, and say
		# how big the database was.
		log "postgres: database size $(psql_q "SELECT pg_size_pretty(pg_database_size(current_database()))") before VACUUM"
		psql_q 'VACUUM' >/dev/null 2>&1 || log "postgres: VACUUM failed (not the owner?); figures may suffer from catalog bloat"
	fi
	run_backend "$backend"
done
elapsed=$(($(date +%s) - started))

# The report.
echo "## Benchmarks (bench/run.sh, $(date -u +%Y-%m-%d))"
echo
echo "Machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -nE 's/^Model name: *//p' | head -n 1), $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), $(go version | awk '{print $3, $4}'), $(uname -sr); load average before the report: $(cut -d' ' -f1-3 /proc/loadavg)."
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
echo "\$ uname -sr"
uname -sr
echo '```'
echo
echo "tocsin, the load tool, the sink, the fakes and PostgreSQL all run on this machine. Run: \`$(env | grep -E '^BENCH_' | sort | tr '\n' ' ')bash bench/run.sh\` (${elapsed}s). Intake: $BENCH_RUNS runs each of $BENCH_N alerts (tocsin, a new database each run) and $BENCH_TRIVIAL_N requests (the trivial handler), closed loop, $BENCH_CONCURRENCY in flight, the same load tool. Repeats: $BENCH_REPEAT_N. Deliveries: $BENCH_N alerts, then $BENCH_RATE/s for $BENCH_DURATION. Timers: $BENCH_TIMERS, wait $BENCH_TIMER_WAIT min. Two instances: $BENCH_WAKE_N alerts (webhooks) and $BENCH_WAKE_TIMER_N (timers due at once) at $BENCH_WAKE_RATE/s. Start-ups: $BENCH_STARTS, $BENCH_IDLE idle."
echo
echo "### Targets (issue 13)"
echo
"$tmp/report" -dir "$results"
if [[ -s $tmp/rows-load.md ]]; then
	echo
	echo "### Intake, repeats and deliveries (bench/load)"
	echo
	"$tmp/load" -md-header
	cat "$tmp/rows-load.md"
	echo
	echo "accepted/s: 2xx answers per second of wall time (first send to last answer). Accept latency: from the intended send time to the 2xx answer, when the alert is durably committed. delivered/s: unique webhooks per second between the first and the last arrival at the sink. Delivery latency: from the intended send time to the webhook's arrival at the sink. CPU: user+system time of the server (tocsin, or the trivial handler) from the start of the scenario until all its webhooks arrived; RSS: the largest resident set seen. Latencies in ms."
fi
if [[ -s $tmp/rows-timers.md ]]; then
	echo
	echo "### Escalation timers (bench/timers)"
	echo
	"$tmp/timers" -md-header
	cat "$tmp/rows-timers.md"
	echo
	echo "Lateness: arrival of the escalation at the fake PagerDuty minus the timer's due time (the incident's created_at + the wait). No channel is configured: the timers are the only work."
fi
if [[ -s $tmp/rows-wake.md ]]; then
	echo
	echo "### Two instances on one PostgreSQL (bench/wake)"
	echo
	"$tmp/wake" -md-header
	cat "$tmp/rows-wake.md"
	echo
	echo "A's lane (webhook notifications, or escalations to PagerDuty) is held full by calls that do not finish, so only B can run the measured alerts' jobs; the delay is from A's 2xx answer to the webhook's (or the escalation's) arrival."
fi
if [[ -s $tmp/rows-startup.md ]]; then
	echo
	echo "### Start-up and idle memory (bench/startup)"
	echo
	"$tmp/startup" -md-header
	cat "$tmp/rows-startup.md"
fi
if [[ -s $notes ]]; then
	echo
	echo "Notes:"
	echo
	cat "$notes"
fi
if [[ -n $BENCH_KEEP ]]; then
	mkdir -p "$BENCH_KEEP"
	cp -r "$results" "$BENCH_KEEP/"
fi
