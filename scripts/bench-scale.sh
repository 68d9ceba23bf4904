#!/usr/bin/env bash
# bench-scale.sh — the scale mode of `make bench` (SCALE="1000 10000"): N
# IKE SAs with Child SAs from N source addresses against one responder,
# vpngw's agent and strongSwan 5.9.8 (charon + kernel-libipsec) in the same
# run, in an order rotated per repeat. See docs/benchmarks.md ("Scale").
#
#   initiator ns (ID-si): wan0 192.0.2.1/24 + N /32s from 10.64.0.0/10
#        ==wan0==
#   responder ns (ID-sr): wan0 192.0.2.2/24, 172.16.0.1/16 (hub) on lo,
#                          10.64.0.0/10 routed back via 192.0.2.1
#
# The load client is `vpngw-bench scale`: vpngw's own IKE engine as
# initiator, WINDOW setups in flight, no ESP. Both responders get N explicit
# connections (address, PSK, prefixes each; `vpngw-bench scale-plan`).
#
# Env: SCALE="1000"  peer counts; REPEATS=5; WINDOW=32; IDLE=45s (covers
#      every tunnel's first liveness check, 24-30 s after it came up);
#      SETTLE=2s between the last setup and the idle window (in remote
#      mode the last clients' reports may still be on their way then);
#      DPD=on: dead peer detection on both responders and the client
#      (vpngw's default 45 s timeout, strongSwan dpd_delay = 30s); DPD=off:
#      strongSwan dpd_delay = 0, vpngw and client the longest timeout;
#      HUB_BEFORE=path (REMOTE=1): the vpngw-bench binary whose control
#      plane (`vpngw-bench hub`, reconcile.Hub) the vpngw-before runs
#      report to, for a same-run before/after of the control plane alone
#      (with VPNGW_BEFORE=bin/vpngw);
#      REKEYS=R: the load client starts R Child SA rekeys a second over
#      the idle window, round robin over its clients (default 0): the
#      steady stream of state changes a large gateway sees;
#      HEAPPROF=1 saves the vpngw agent's heap profile with all tunnels up
#      (heap-IMPL-nN-rR.pprof); IMPLS="vpngw" runs only these responders
#      (no ratios without strongswan);
#      VPNGW_BEFORE=path: also run this vpngw binary (impl vpngw-before),
#      for before/after figures from the same run (the first-ping part
#      too: its connects rotate over vpngw, strongswan, vpngw-before);
#      PERF=1 records `perf record -g` of the vpngw agent's setup phase
#      (first repeat, each N) into $RESULTS/perf-N.data;
#      TRACE=1 records the whole machine's scheduler, system-call and
#      network events (perf record -a, TRACE_EVENTS) over the Go client's
#      connects of the first repeat into $RESULTS/trace-IMPL.data;
#      PING_ONLY=1 (P2S mode) runs only the first-ping part, not the N
#      clients (N then only sizes the plan);
#      CPUPROF=SECS: SECS after the load client starts (first repeat,
#      each N), a 30 s CPU profile of the vpngw agent (its status socket's
#      /debug/pprof/profile, cpu-IMPL-nN.pprof) and, with REMOTE=1, `perf
#      record -g` of the control plane (perf-hub-IMPL-nN.data): for the
#      idle window, SECS past the setups; CPUPROF_SECS (30) is the
#      profiles' length; with ALLOCPROF=1 also the agent's heap profile
#      at the start and at the end of that profile (allocs-IMPL-nN-{0,1}
#      .pprof: `go tool pprof -sample_index=alloc_space -base` of the two
#      is what the agent allocated in between; each forces a collection,
#      which that repeat's idle figure then includes);
#      REMOTE=1 runs vpngw's agent in remote mode (--server), fed and
#      reporting over a Unix socket to the control plane's agent API
#      (`vpngw-bench hub`: reconcile.Hub, as in `vpngw serve`), whose idle
#      CPU is then reported too ("control plane"; a SIGHUP to the hub adds
#      a connection to the assignment, the next removes it: a gateway
#      operation during the idle window); in such a run the impl
#      vpngw-file (IMPLS="vpngw vpngw-file") is the same agent binary from
#      its config file, without the control plane: file against remote
#      mode in one run;
#      GOTRACE=SECS: after the CPUPROF profile, an execution trace of
#      the agent that long (trace-IMPL-nN.out, `go tool trace`: every
#      goroutine wake-up and its cause);
#      AGENT_GODEBUG=gctrace=1 (say) runs the vpngw agents with that
#      GODEBUG (the collector's trace then lands in their logs);
#      THREADS=SECS: SECS after the agent starts (every repeat; for the
#      idle window, SECS past the setups), the CPU time and the number of
#      times each of the agent's threads ran over THREADS_SECS (40)
#      (/proc/PID/task/*/schedstat; threads-IMPL-nN-rR.txt and a line in
#      the log). The Go runtime's sysmon is the process's second thread (the
#      first the runtime starts; it never runs goroutines) and is shown
#      apart: what it costs is in no CPU profile, pprof or perf by symbol;
#      with PERF_IDLE=1 also `perf record -g -F 997` of the agent over the
#      same window (perfidle-IMPL-nN-rR.data; ~1 sample per ms of CPU);
#      SCRAPES=K: after the idle window, K scrapes of the vpngw agent's
#      /metrics back to back, then K asking for gzip (as Prometheus does),
#      then K reads of its full /status (every client listed) and K of the
#      summary (/status?clients=none; an agent older than the query
#      ignores it and answers in full): the agent's CPU time per request
#      (utime + stime over the K, from /proc/PID/stat, so ±10 ms / K), the
#      wall time and the bytes sent, a line in the log,
#      scrape-IMPL-nN-rR.txt, scrape.jsonl and a table in the report (with
#      vpngw-before: its ratio, per repeat).
#
# P2S="1000 10000" (scripts/bench.sh passes it on) is the point-to-site
# variant: the same load client and addresses, but each client is a
# remote-access client (ECDSA P-256 certificate from one root, CFG_REQUEST
# for a pool address, 0.0.0.0/0 narrowed by the gateway) and each
# responder has one point-to-site template instead of N connections
# (`vpngw-bench scale-plan -p2s`): vpngw's agent a pointToSite section,
# strongSwan a connection with a pool and certificate authentication. The
# memory baseline is then the responder with its template loaded and no
# client; IDLE defaults to 5s; every client's address is checked to be
# its own. With the first N it also times a strongSwan client (charon,
# vips = 0.0.0.0, the plan's client/ certificate; in the initiator
# namespace) from `swanctl --initiate` to its first ping of 172.16.0.1
# through the tunnel, PING_TRIES (5) connects per gateway and repeat, then
# the same with a Go client (vpngw's engine sending an ICMP echo inside
# ESP and timing the reply; `vpngw-bench first-ping`). Results in bench-results/p2s-STAMP. See
# docs/benchmarks.md ("Point-to-site").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin

MODE=scale
if [ -n "${P2S:-}" ]; then MODE=p2s SCALE=$P2S IDLE=${IDLE:-5s}; fi
SCALE=${SCALE:-1000}
REPEATS=${REPEATS:-5}
WINDOW=${WINDOW:-32}
IDLE=${IDLE:-45s}
SETTLE=${SETTLE:-2s}
DPD=${DPD:-on}
REKEYS=${REKEYS:-0}
case $REKEYS in *[!0-9]*|'') echo "REKEYS=$REKEYS: a number of rekeys a second" >&2; exit 2 ;; esac
HEAPPROF=${HEAPPROF:-}
PING_TRIES=${PING_TRIES:-5}
PERF=${PERF:-}
TRACE=${TRACE:-}
# The kernel's view of a connect (TRACE=1): when each datagram enters the
# receiver's network stack, who is woken, when a thread runs, and when the
# system calls on both sides return (`perf script -i trace-IMPL.data`; no
# write events: perf's own writes would feed back into the trace).
TRACE_EVENTS=${TRACE_EVENTS:-sched:sched_waking,sched:sched_wakeup,sched:sched_switch,net:netif_rx,syscalls:sys_enter_sendmsg,syscalls:sys_exit_sendmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_exit_sendmmsg,syscalls:sys_enter_sendto,syscalls:sys_exit_recvmmsg,syscalls:sys_exit_recvmsg,syscalls:sys_exit_recvfrom,syscalls:sys_enter_epoll_pwait,syscalls:sys_exit_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_exit_futex,syscalls:sys_enter_connect,syscalls:sys_exit_getsockname,irq_vectors:reschedule_entry}
CPUPROF=${CPUPROF:-}
CPUPROF_SECS=${CPUPROF_SECS:-30}
ALLOCPROF=${ALLOCPROF:-}
GOTRACE=${GOTRACE:-}
THREADS=${THREADS:-}
THREADS_SECS=${THREADS_SECS:-40}
PERF_IDLE=${PERF_IDLE:-}
SCRAPES=${SCRAPES:-}
case $SCRAPES in *[!0-9]*) echo "SCRAPES=$SCRAPES: a number of scrapes" >&2; exit 2 ;; esac
PING_ONLY=${PING_ONLY:-}
REMOTE=${REMOTE:-}
VPNGW_BIN=${VPNGW_BIN:-$ROOT/bin/vpngw}
VPNGW_BEFORE=${VPNGW_BEFORE:-}
HUB_BEFORE=${HUB_BEFORE:-}
BENCH=$ROOT/bin/vpngw-bench
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-$ROOT/bench-results/$MODE-$STAMP}
CHARON=/usr/lib/ipsec/charon

ID=vscale$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_I=$ID-si NS_R=$ID-sr
RUN=/run/$ID
LOGS=$RESULTS/logs
CONF=$RESULTS/conf
SOCK=$RUN/vpngw.sock

BENCH_NAME=bench-scale
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# cpu_ticks PID: the process's utime + stime, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# scrape_cost IMPL N REPEAT PID: SCRAPES requests of each kind to the
# agent's status socket (/metrics plain and gzip, /status in full and its
# summary) and what each cost the agent.
scrape_cost() {
	local impl=$1 n=$2 r=$3 pid=$4 enc hdr path c0 c1 t0 t1 bytes k ms out=$RESULTS/scrape-$1-n$2-r$3.txt tck
	tck=$(getconf CLK_TCK)
	: >"$out"
	for enc in plain gzip status status-summary; do
		hdr=() path=/metrics
		case $enc in
		gzip) hdr=(-H 'Accept-Encoding: gzip') ;;
		status) path=/status ;;
		status-summary) path='/status?clients=none' ;;
		esac
		c0=$(cpu_ticks "$pid") t0=$(date +%s%N) bytes=0
		for k in $(seq 1 "$SCRAPES"); do
			bytes=$(curl -sf --max-time 30 --unix-socket "$SOCK" "${hdr[@]}" -o /dev/null -w '%{size_download}' "http://agent$path") || bytes=failed
		done
		c1=$(cpu_ticks "$pid") t1=$(date +%s%N)
		ms=$(awk -v c=$((c1 - c0)) -v k="$SCRAPES" -v t="$tck" 'BEGIN {printf "%.1f", c * 1000 / t / k}')
		echo "$enc: $ms ms of agent CPU per request, $(((t1 - t0) / 1000000 / SCRAPES)) ms wall, $bytes bytes, $SCRAPES requests" >>"$out"
		[ "$bytes" = failed ] ||
			printf '{"impl":"%s","n":%d,"repeat":%d,"encoding":"%s","cpuMs":%s,"wallMs":%d,"bytes":%d,"scrapes":%d}\n' \
				"$impl" "$n" "$r" "$enc" "$ms" $(((t1 - t0) / 1000000 / SCRAPES)) "$bytes" "$SCRAPES" >>"$RESULTS/scrape.jsonl"
	done
	log "  r$r $impl status socket: $(paste -sd ';' "$out")"
}
# threads_snap PID: one line per thread, by TID: TID, nanoseconds run,
# times run.
threads_snap() { local t; for t in /proc/"$1"/task/*; do echo "${t##*/} $(cut -d' ' -f1,3 "$t/schedstat" 2>/dev/null)"; done | sort -n; }
# threads_report BEFORE AFTER SECS: each thread's share of a core and runs
# per second between two threads_snap, the second thread as sysmon, and a
# summary line last.
threads_report() {
	awk -v secs="$3" '
		NR == FNR { ns[$1] = $2; n[$1] = $3; next }
		NF == 3 { tid[++k] = $1; dns[k] = $2 - ns[$1]; dn[k] = $3 - n[$1] }
		END {
			for (i = 1; i <= k; i++) {
				role = i == 1 ? "main" : i == 2 ? "sysmon" : ""
				printf "thread %s %s: %.2f%% of a core, %.0f runs/s\n", tid[i], role, dns[i] / secs / 1e7, dn[i] / secs
				all += dns[i]; alln += dn[i]
				if (i == 2) { sm = dns[i]; smn = dn[i] }
			}
			printf "agent threads over %ss: %.2f%% of a core, %.0f runs/s; sysmon %.2f%%, %.0f runs/s\n", secs, all / secs / 1e7, alln / secs, sm / secs / 1e7, smn / secs
		}' "$1" "$2"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	kill_tracked_and_netns "$NS_I" "$NS_R"
	rm -rf "$RUN"
	exit "$rc"
}

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$CHARON" ] || die "$CHARON is missing (strongswan-charon)"
[ -x "$VPNGW_BIN" ] || die "$VPNGW_BIN is missing (make build)"
go build -o "$BENCH" ./bench/cmd/vpngw-bench
mkdir -p "$RESULTS" "$LOGS" "$CONF" "$RUN/r"
trap cleanup EXIT
trap 'echo "bench-scale: interrupted" >&2; exit 130' INT TERM

topology() { # N
	ip netns add "$NS_I"
	ip netns add "$NS_R"
	for ns in "$NS_I" "$NS_R"; do
		nsx "$ns" ip link set lo up
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	ip link add wan0 netns "$NS_I" type veth peer name wan0 netns "$NS_R"
	nsx "$NS_I" ip addr add 192.0.2.1/24 dev wan0
	nsx "$NS_R" ip addr add 192.0.2.2/24 dev wan0
	nsx "$NS_R" ip addr add 172.16.0.1/16 dev lo
	nsx "$NS_I" ip link set wan0 up
	nsx "$NS_R" ip link set wan0 up
	nsx "$NS_R" ip route add 10.64.0.0/10 via 192.0.2.1 dev wan0
	nsx "$NS_I" ip -batch "$CONF/$1/scale-addrs.batch"
	# Thousands of peers behind one neighbour: room in the socket buffers.
	for ns in "$NS_I" "$NS_R"; do nsx "$ns" sysctl -qw net.core.rmem_default=4194304 net.core.wmem_default=4194304 2>/dev/null || true; done
}

swan_conf() { # DIR
	cat >"$1/strongswan.conf" <<EOF
# generated by scripts/bench-scale.sh; tuned for many IKE SAs as the
# strongSwan documentation advises (hash tables, threads); cookies from 64
# half-open SAs as vpngw's default.
charon {
	load_modular = no
	load = random nonce openssl aes aesni gcm sha1 sha2 hmac kdf pem pkcs1 pkcs8 x509 pubkey curve25519 eap-identity eap-tls kernel-libipsec kernel-netlink socket-default vici
	install_routes = yes
	threads = 16
	ikesa_table_size = 4096
	ikesa_table_segments = 16
	cookie_threshold = 64
	filelog { charon { path = /run/charon.log
		default = 0 } }
	plugins { vici { socket = unix:///run/charon.vici } }
}
EOF
}

run_vpngw_before() { VPNGW_BIN=$VPNGW_BEFORE IMPL=vpngw-before run_vpngw "$@"; }
run_vpngw_file() { IMPL=vpngw-file FILE_MODE=1 run_vpngw "$@"; }
run_vpngw() { # N REPEAT
	local n=$1 r=$2 base pid perfpid= impl=${IMPL:-vpngw} cfg=$CONF/$n/scale-vpngw.yaml p2s=()
	if [ "$MODE" = p2s ]; then cfg=$CONF/$n/p2s-vpngw.yaml p2s=(-p2s "$CONF/$n"); fi
	printf 'name: scale\nlocalAddress: 192.0.2.2\nlocalPrefixes: [172.16.0.0/16]\nrawEsp: false\nstatusSocket: %s\ntunnel:\n  device: vpngw0\n  mtu: 1400\nconnections: []\n' "$SOCK" >"$CONF/vpngw-empty.yaml"
	if [ "$MODE" = scale ]; then # baseline: the agent with no peer configured
		nsx_bg "$NS_R" "$LOGS/$impl-n$n-r$r-base.log" "$VPNGW_BIN" agent --config "$CONF/vpngw-empty.yaml" --log-level warn
		pid=$BG_PID
		for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
		sleep 1
		base=$(rss "$pid")
		stop_pid "$pid" 200
	fi
	local hubpid=0 src=(--config "$cfg")
	if [ -n "$REMOTE" ] && [ -z "${FILE_MODE:-}" ]; then
		local hubbin=$BENCH
		if [ "$impl" = vpngw-before ] && [ -n "$HUB_BEFORE" ]; then hubbin=$HUB_BEFORE; fi
		nsx_bg "$NS_R" "$LOGS/hub-$impl-n$n-r$r.log" "$hubbin" hub -config "$cfg" -socket "$RUN/hub.sock" -instance scale
		hubpid=$BG_PID
		for _ in $(seq 1 100); do [ -S "$RUN/hub.sock" ] && break; sleep 0.05; done
		src=(--server "unix://$RUN/hub.sock" --instance scale --state-dir "$RUN/state-$impl")
	fi
	nsx_bg "$NS_R" "$LOGS/$impl-n$n-r$r.log" env ${AGENT_GODEBUG:+GODEBUG=$AGENT_GODEBUG} "$VPNGW_BIN" agent "${src[@]}" --log-level warn
	pid=$BG_PID
	for _ in $(seq 1 1200); do [ -S "$SOCK" ] && break; alive "$pid" || break; sleep 0.05; done
	[ -S "$SOCK" ] || { fail "vpngw agent with $n connections did not come up"; stop_pid "$pid" 200; return 0; }
	sleep 2
	[ "$MODE" = scale ] || base=$(rss "$pid") # P2S baseline: the template, no client
	if [ -n "$PERF" ] && [ "$r" = 1 ] && command -v perf >/dev/null; then
		perf record -g -F 499 -p "$pid" -o "$RESULTS/perf-$impl-n$n.data" -- sleep 30 >"$LOGS/perf-$impl-n$n.log" 2>&1 &
		perfpid=$!
		PIDS+=("$perfpid")
	fi
	local profpid=
	if [ -n "$THREADS" ]; then
		(
			sleep "$THREADS"
			threads_snap "$pid" >"$LOGS/threads-$impl-n$n-r$r.0"
			[ -z "$PERF_IDLE" ] || perf record -g -F 997 -p "$pid" -o "$RESULTS/perfidle-$impl-n$n-r$r.data" -- sleep "$THREADS_SECS" >"$LOGS/perfidle-$impl-n$n-r$r.log" 2>&1 &
			sleep "$THREADS_SECS"
			threads_snap "$pid" >"$LOGS/threads-$impl-n$n-r$r.1"
			threads_report "$LOGS/threads-$impl-n$n-r$r.0" "$LOGS/threads-$impl-n$n-r$r.1" "$THREADS_SECS" >"$RESULTS/threads-$impl-n$n-r$r.txt"
			log "  r$r $impl threads: $(tail -1 "$RESULTS/threads-$impl-n$n-r$r.txt")"
		) &
		PIDS+=("$!")
	fi
	if [ -n "$CPUPROF" ] && [ "$r" = 1 ]; then
		(
			sleep "$CPUPROF"
			[ "$hubpid" = 0 ] || perf record -g -F 499 -p "$hubpid" -o "$RESULTS/perf-hub-$impl-n$n.data" -- sleep "$CPUPROF_SECS" >"$LOGS/perf-hub-$impl-n$n.log" 2>&1 &
			[ -z "$ALLOCPROF" ] || curl -s --max-time 30 --unix-socket "$SOCK" -o "$RESULTS/allocs-$impl-n$n-0.pprof" "http://agent/debug/pprof/heap?gc=1"
			curl -s --max-time $((CPUPROF_SECS + 30)) --unix-socket "$SOCK" -o "$RESULTS/cpu-$impl-n$n.pprof" "http://agent/debug/pprof/profile?seconds=$CPUPROF_SECS"
			[ -z "$ALLOCPROF" ] || curl -s --max-time 30 --unix-socket "$SOCK" -o "$RESULTS/allocs-$impl-n$n-1.pprof" "http://agent/debug/pprof/heap?gc=1"
			[ -z "$GOTRACE" ] || curl -s --max-time $((GOTRACE + 30)) --unix-socket "$SOCK" -o "$RESULTS/trace-$impl-n$n.out" "http://agent/debug/pprof/trace?seconds=$GOTRACE"
			wait
		) &
		profpid=$!
		PIDS+=("$profpid")
	fi
	nsx "$NS_I" "$BENCH" scale -out "$RESULTS" -repeat "$r" -impl "$impl" -n "$n" -window "$WINDOW" -pid "$pid" -hub-pid "$hubpid" -base-rss "$base" -idle "$IDLE" -settle "$SETTLE" -dpd="$dpd" -rekeys "$REKEYS" "${p2s[@]}" ||
		fail "$impl scale N=$n repeat $r"
	[ -z "$SCRAPES" ] || [ "$SCRAPES" = 0 ] || scrape_cost "$impl" "$n" "$r" "$pid"
	if [ -n "$HEAPPROF" ]; then
		curl -s --max-time 60 --unix-socket "$SOCK" -o "$RESULTS/heap-$impl-n$n-r$r.pprof" "http://agent/debug/pprof/heap?gc=1" ||
			log "no heap profile from $impl (an agent without /debug/pprof?)"
	fi
	if [ -n "$perfpid" ]; then kill -INT "$perfpid" 2>/dev/null; wait "$perfpid" 2>/dev/null || true; fi
	if [ -n "$profpid" ]; then wait "$profpid" 2>/dev/null || true; fi
	stop_pid "$pid" 200
	[ "$hubpid" = 0 ] || stop_pid "$hubpid" 200
	rm -f "$SOCK" "$RUN/hub.sock"
}

run_strongswan() { # N REPEAT
	local n=$1 r=$2 base pid dir=$RUN/r swdir=$CONF/$n file=$CONF/$n/scale-swanctl.conf p2s=()
	if [ "$MODE" = p2s ]; then swdir=$CONF/$n/swanctl file=$CONF/$n/swanctl/swanctl.conf p2s=(-p2s "$CONF/$n"); fi
	swan_conf "$CONF"
	rm -f "$dir/charon.pid" "$dir/charon.vici"
	nsx_bg "$NS_R" "$LOGS/strongswan-n$n-r$r.log" sh -c "mount --bind '$dir' /run && exec env STRONGSWAN_CONF='$CONF/strongswan.conf' $CHARON"
	pid=$BG_PID
	for _ in $(seq 1 100); do [ -S "$dir/charon.vici" ] && break; alive "$pid" || break; sleep 0.05; done
	[ -S "$dir/charon.vici" ] || { fail "charon did not come up"; stop_pid "$pid" 200; return 0; }
	sleep 1
	base=$(rss "$pid")
	SWANCTL_DIR=$swdir timeout 600 swanctl --load-all --noprompt --uri "unix://$dir/charon.vici" --file "$file" >"$LOGS/strongswan-n$n-r$r-load.log" 2>&1 ||
		{ fail "swanctl --load-all ($MODE, N=$n)"; stop_pid "$pid" 200; return 0; }
	sleep 2
	[ "$MODE" = scale ] || base=$(rss "$pid") # P2S baseline: the template, no client
	nsx "$NS_I" "$BENCH" scale -out "$RESULTS" -repeat "$r" -impl strongswan -n "$n" -window "$WINDOW" -pid "$pid" -base-rss "$base" -idle "$IDLE" -settle "$SETTLE" -dpd="$dpd" -rekeys "$REKEYS" "${p2s[@]}" ||
		fail "strongSwan scale N=$n repeat $r"
	stop_pid "$pid" 200
	mv "$dir/charon.log" "$LOGS/strongswan-n$n-r$r-charon.log" 2>/dev/null || true
}

# first_ping N REPEAT IMPL: the strongSwan client's connects to one gateway
# (P2S mode).
gw_load() { # N REPEAT FILE: (re)load the strongSwan gateway's connections from FILE
	local gdir=$RUN/r
	SWANCTL_DIR=$CONF/$1/swanctl timeout 60 swanctl --load-all --noprompt --uri "unix://$gdir/charon.vici" --file "$CONF/$1/swanctl/$3" >>"$LOGS/ping-strongswan-r$2-load.log" 2>&1 ||
		{ fail "first ping: strongSwan gateway did not load $3"; return 1; }
}
first_ping() {
	local n=$1 r=$2 impl=$3 gw cl cdir=$RUN/c gdir=$RUN/r
	for ns in "$NS_I" "$NS_R"; do nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0; done
	swan_conf "$CONF"
	if [ "$impl" != strongswan ]; then
		local bin=$VPNGW_BIN
		[ "$impl" = vpngw-before ] && bin=$VPNGW_BEFORE
		nsx_bg "$NS_R" "$LOGS/ping-$impl-r$r.log" "$bin" agent --config "$CONF/$n/p2s-vpngw.yaml" --log-level warn
		gw=$BG_PID
		for _ in $(seq 1 200); do [ -S "$SOCK" ] && break; alive "$gw" || break; sleep 0.05; done
		[ -S "$SOCK" ] || { fail "first ping: vpngw agent did not come up"; stop_pid "$gw"; return 0; }
	else
		rm -f "$gdir/charon.pid" "$gdir/charon.vici"
		nsx_bg "$NS_R" "$LOGS/ping-strongswan-r$r.log" sh -c "mount --bind '$gdir' /run && exec env STRONGSWAN_CONF='$CONF/strongswan.conf' $CHARON"
		gw=$BG_PID
		for _ in $(seq 1 100); do [ -S "$gdir/charon.vici" ] && break; alive "$gw" || break; sleep 0.05; done
		# EAP-TLS first, for the charon client's unedited profile.
		gw_load "$n" "$r" swanctl-eaptls.conf || { stop_pid "$gw"; return 0; }
	fi
	mkdir -p "$cdir"
	rm -f "$cdir/charon.pid" "$cdir/charon.vici"
	nsx_bg "$NS_I" "$LOGS/ping-client-$impl-r$r.log" sh -c "mount --bind '$cdir' /run && exec env STRONGSWAN_CONF='$CONF/strongswan.conf' $CHARON"
	cl=$BG_PID
	for _ in $(seq 1 100); do [ -S "$cdir/charon.vici" ] && break; alive "$cl" || break; sleep 0.05; done
	if SWANCTL_DIR=$CONF/$n/client timeout 60 swanctl --load-all --noprompt --uri "unix://$cdir/charon.vici" --file "$CONF/$n/client/swanctl.conf" >"$LOGS/ping-client-$impl-r$r-load.log" 2>&1; then
		sleep 1
		nsx "$NS_I" "$BENCH" first-ping -out "$RESULTS" -repeat "$r" -impl "$impl" -tries "$PING_TRIES" -vici "unix://$cdir/charon.vici" ||
			fail "first ping: $impl repeat $r"
	else
		fail "first ping: the strongSwan client did not load"
	fi
	stop_pid "$cl"
	mv "$cdir/charon.log" "$LOGS/ping-client-$impl-r$r-charon.log" 2>/dev/null || true
	# The Go client (vpngw's engine, ICMP inside ESP) against the same
	# gateway, now that charon has left the IKE ports. It authenticates
	# with IKEv2 certificates, which the strongSwan gateway takes with the
	# plain template (vpngw takes both at once).
	if [ "$impl" = strongswan ]; then gw_load "$n" "$r" swanctl.conf || { stop_pid "$gw"; return 0; }; fi
	local tracepid=
	if [ -n "$TRACE" ] && [ "$r" = 1 ] && command -v perf >/dev/null; then
		perf record -a -o "$RESULTS/trace-$impl.data" -e "$TRACE_EVENTS" >"$LOGS/trace-$impl.log" 2>&1 &
		tracepid=$!
		PIDS+=("$tracepid")
		sleep 1
	fi
	nsx "$NS_I" "$BENCH" first-ping -client go -p2s "$CONF/$n" -out "$RESULTS" -repeat "$r" -impl "$impl" -tries "$PING_TRIES" ||
		fail "first ping (Go client): $impl repeat $r"
	if [ -n "$tracepid" ]; then kill -INT "$tracepid" 2>/dev/null; wait "$tracepid" 2>/dev/null || true; fi
	stop_pid "$gw"
	mv "$gdir/charon.log" "$LOGS/ping-strongswan-r$r-charon.log" 2>/dev/null || true
	rm -f "$SOCK"
}

case $DPD in
on) dpd=true ;;
off) dpd=false ;;
*) die "DPD=$DPD: on or off" ;;
esac
log "$MODE mode: N in ($SCALE), $REPEATS repeats, window $WINDOW, idle $IDLE, DPD $DPD; results in $RESULTS"
for n in $SCALE; do
	mkdir -p "$CONF/$n"
	plan=()
	[ "$MODE" = scale ] || plan=(-p2s)
	"$BENCH" scale-plan -dir "$CONF/$n" -n "$n" -sock "$SOCK" -dpd="$dpd" "${plan[@]}"
	topology "$n"
	for r in $(seq 1 "$REPEATS"); do
		[ -z "$PING_ONLY" ] || break
		"$BENCH" idle -out "$RESULTS" -repeat "$r" -window 2s || true
		impls=${IMPLS:-"vpngw strongswan${VPNGW_BEFORE:+ vpngw-before}"}
		order=$(echo $impls | tr ' ' '\n' | awk -v r="$r" '{a[NR]=$0} END {for (i=0; i<NR; i++) print a[(i+r-1)%NR+1]}')
		for impl in $order; do
			log "N=$n repeat $r/$REPEATS: $impl"
			"run_${impl//-/_}" "$n" "$r"
		done
	done
	if [ "$MODE" = p2s ] && [ "$n" = "${SCALE%% *}" ] && [ "$PING_TRIES" -gt 0 ]; then
		for r in $(seq 1 "$REPEATS"); do
			if [ -n "$VPNGW_BEFORE" ]; then
				order=$(printf '%s\n' vpngw strongswan vpngw-before | awk -v r="$r" '{a[NR]=$0} END {for (i=0; i<NR; i++) print a[(i+r-1)%NR+1]}')
			elif [ $((r % 2)) = 0 ]; then order="strongswan vpngw"; else order="vpngw strongswan"; fi
			[ -z "$PING_ONLY" ] || "$BENCH" idle -out "$RESULTS" -repeat "$r" -window 2s || true
			for impl in $order; do
				log "first ping, repeat $r/$REPEATS: $impl gateway"
				first_ping "$n" "$r" "$impl"
			done
		done
	fi
	for p in $(ip netns pids "$NS_I" 2>/dev/null) $(ip netns pids "$NS_R" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	ip netns del "$NS_I"; ip netns del "$NS_R"
done
"$BENCH" scale-report -dir "$RESULTS" | tee "$RESULTS/$MODE.md"
[ ! -s "$RESULTS/failures.txt" ]
