# bench-lib.sh — helpers the `make bench` scripts share (sourced, not run):
# logging, processes tracked by PID, commands in network namespaces, and
# the four-namespace gateway pair of bench.sh and bench-tunnels.sh.
# Set BENCH_NAME (message prefix) and RESULTS before calling die or fail.

PIDS=()  # background processes started with nsx_bg, stopped by PID
BG_PID=  # the last one

# WG_VERSION is the wireguard-go the baselines run (bench.sh,
# bench-tunnels.sh), built by build_wireguard_go.
WG_VERSION=v0.0.0-20260522210424-ecfc5a8d5446

log() { printf '%s %s\n' "$(date +%T)" "$*"; }
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
fail() { # a failed step: noted in $RESULTS/failures.txt, the run goes on
	echo "$BENCH_NAME: FAILED: $*" >&2
	echo "$*" >>"$RESULTS/failures.txt"
}

# alive PID: running (not a zombie)?
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "${st%% *}" != Z ]; }

# stop_pid PID [TENTHS]: TERM, up to TENTHS tenths of a second (default
# 100), KILL; reap; forget it.
stop_pid() {
	local p=$1 q keep=()
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 1 "${2:-100}"); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
	for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	PIDS=("${keep[@]}")
}

# swan_secrets PSK: the swanctl.conf secrets section for the gateway
# pair's two IKE identities, 192.0.2.1 and 192.0.2.2.
swan_secrets() { printf 'secrets {\n\tike-s2s {\n\t\tid-a = 192.0.2.1\n\t\tid-b = 192.0.2.2\n\t\tsecret = "%s"\n\t}\n}\n' "$1"; }

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# build_wireguard_go BIN: `go install` wireguard-go $WG_VERSION into BIN's
# directory unless BIN is there already.
build_wireguard_go() {
	[ -x "$1" ] && return 0
	log "building wireguard-go $WG_VERSION into $(dirname "$1")"
	mkdir -p "$(dirname "$1")"
	GOBIN=$(dirname "$1") go install "golang.zx2c4.com/wireguard@$WG_VERSION"
}

# wg_gateways_up LOGPREFIX: wireguard-go ($WG_BIN) on gateway A ($NS_AG,
# device $WG_A, 192.0.2.1) and B ($NS_BG, $WG_B, 192.0.2.2), keys kept in
# $RUN, one peer each (10.2.0.0/16 behind B, 10.1.0.0/16 behind A),
# routed through the devices; logs in LOGPREFIX-gw-{a,b}.log. WG_PID_A and
# WG_PID_B are set as each starts, so the caller can stop them after a
# failure too.
WG_PID_A= WG_PID_B=
wg_gateways_up() {
	local s
	if [ ! -s "$RUN/wg-a.key" ]; then
		(umask 077 && wg genkey >"$RUN/wg-a.key" && wg genkey >"$RUN/wg-b.key") || return 1
	fi
	rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
	nsx_bg "$NS_AG" "$1-gw-a.log" env LOG_LEVEL=error "$WG_BIN" -f "$WG_A"
	WG_PID_A=$BG_PID
	nsx_bg "$NS_BG" "$1-gw-b.log" env LOG_LEVEL=error "$WG_BIN" -f "$WG_B"
	WG_PID_B=$BG_PID
	for s in "$WG_A" "$WG_B"; do
		for _ in $(seq 1 100); do [ -S "/var/run/wireguard/$s.sock" ] && break; sleep 0.05; done
		[ -S "/var/run/wireguard/$s.sock" ] || { echo "wireguard-go $s did not come up" >&2; return 1; }
	done
	nsx "$NS_AG" wg set "$WG_A" private-key "$RUN/wg-a.key" listen-port 51820 \
		peer "$(wg pubkey <"$RUN/wg-b.key")" endpoint 192.0.2.2:51820 allowed-ips 10.2.0.0/16 &&
		nsx "$NS_BG" wg set "$WG_B" private-key "$RUN/wg-b.key" listen-port 51820 \
			peer "$(wg pubkey <"$RUN/wg-a.key")" endpoint 192.0.2.1:51820 allowed-ips 10.1.0.0/16 &&
		nsx "$NS_AG" ip link set "$WG_A" up && nsx "$NS_BG" ip link set "$WG_B" up &&
		nsx "$NS_AG" ip route replace 10.2.0.0/16 dev "$WG_A" &&
		nsx "$NS_BG" ip route replace 10.1.0.0/16 dev "$WG_B"
}

# nsx_bg NS LOG CMD...: start in the background (ip netns exec execs, so
# BG_PID is the command's PID).
nsx_bg() { local ns=$1 logf=$2; shift 2; ip netns exec "$ns" "$@" </dev/null >"$logf" 2>&1 & BG_PID=$!; PIDS+=("$BG_PID"); }

# kill_tracked_and_netns NS...: on exit, KILL what nsx_bg started and
# whatever else runs in the namespaces, and delete them.
kill_tracked_and_netns() {
	local ns p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for ns in "$@"; do
		[ -e "/run/netns/$ns" ] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
}

# gateway_pair AH AG BG BH: host A --lan0-- gw A ==wan0== gw B --lan0--
# host B, links up, IPv6 off, the gateways forwarding with rp_filter off;
# the caller adds addresses and routes.
gateway_pair() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		nsx "$ns" ip link set lo up
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	ip link add lan0 netns "$1" type veth peer name lan0 netns "$2"
	ip link add wan0 netns "$2" type veth peer name wan0 netns "$3"
	ip link add lan0 netns "$3" type veth peer name lan0 netns "$4"
	nsx "$1" ip link set lan0 up
	nsx "$2" ip link set lan0 up
	nsx "$2" ip link set wan0 up
	nsx "$3" ip link set wan0 up
	nsx "$3" ip link set lan0 up
	nsx "$4" ip link set lan0 up
	for ns in "$2" "$3"; do
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
}

# fold_perf: `perf script` output to folded stacks (root;...;leaf count).
fold_perf() {
	awk 'function out() { if (n) { k = c0; for (i = n; i >= 1; i--) k = k ";" f[i]; cnt[k]++ } n = 0 }
		/^[^ \t]/ { out(); c0 = $1; next }
		/^[ \t]+[0-9a-f]+ / { s = $2; sub(/\+0x[0-9a-f]+$/, "", s); f[++n] = s; next }
		END { out(); for (k in cnt) print k, cnt[k] }' | sort -k2 -nr
}

# perf_start NAME PIDS: `perf record -g -F 499` of PIDS (comma-separated;
# empty: every CPU, -a) during the measured part of a transfer that starts
# now (after OMIT + 1 s, for DURATION - 2 s), into $RESULTS/perf-NAME.data;
# sets PERF_PID.
perf_start() {
	local target=(-p "$2")
	[ -n "$2" ] || target=(-a)
	(sleep $((OMIT + 1)) && exec perf record -g -F 499 "${target[@]}" -o "$RESULTS/perf-$1.data" \
		-- sleep $((DURATION - 2))) >"$LOGS/perf-$1.log" 2>&1 &
	PERF_PID=$!
}

# perf_finish NAME PID: waits for perf_start's recording and folds it into
# $RESULTS/perf-NAME.folded.
perf_finish() {
	wait "$2" || true
	perf script -i "$RESULTS/perf-$1.data" 2>/dev/null | fold_perf >"$RESULTS/perf-$1.folded"
}

# syscalls_start NAME PIDS: records the data path's system calls of PIDS
# (comma-separated) — read, write, recvmmsg, sendmmsg, entry and exit —
# during the measured part of a transfer that starts now (after OMIT + 1 s,
# for DURATION - 2 s), into $RESULTS/syscalls-NAME.data; sets PERF_PID.
syscalls_start() {
	local ev=syscalls:sys_enter_read,syscalls:sys_exit_read,syscalls:sys_enter_write,syscalls:sys_exit_write
	ev=$ev,syscalls:sys_enter_recvmmsg,syscalls:sys_exit_recvmmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_exit_sendmmsg
	(sleep $((OMIT + 1)) && exec perf record -e "$ev" -p "$2" -o "$RESULTS/syscalls-$1.data" \
		-- sleep $((DURATION - 2))) >"$LOGS/syscalls-$1.log" 2>&1 &
	PERF_PID=$!
}

# syscalls_finish NAME PID LABELS: waits for syscalls_start's recording and
# summarises it into $RESULTS/syscalls-NAME.txt, one line per process, file
# descriptor and call: calls per second, and the mean of what each returned
# (bytes for read and write, messages for recvmmsg and sendmmsg; calls that
# failed, e.g. EAGAIN, counted apart). LABELS names the PIDs ("pid=name ...").
syscalls_finish() {
	wait "$2" || true
	perf script -i "$RESULTS/syscalls-$1.data" -F pid,tid,event,trace 2>/dev/null |
		awk -v labels="$3" -v secs=$((DURATION - 2)) '
		function hex(s,  i, v) {
			s = tolower(s); v = 0
			if (s ~ /^0xffffffff/) return -1 # an error (-errno)
			for (i = 3; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return v
		}
		BEGIN { n = split(labels, L, " "); for (i = 1; i <= n; i++) { split(L[i], kv, "="); name[kv[1]] = kv[2] } }
		{
			tid = $1; pid = tid; sub(/\/.*/, "", pid); ev = $2
			sub(/^syscalls:/, "", ev); sub(/:$/, "", ev)
			if (ev ~ /^sys_enter_/) {
				c = ev; sub(/^sys_enter_/, "", c)
				fd = ""; if (match($0, /fd: 0x[0-9a-f]+/)) fd = hex(substr($0, RSTART + 4, RLENGTH - 4))
				efd[tid] = fd; ecall[tid] = c; next
			}
			c = ev; sub(/^sys_exit_/, "", c)
			if (ecall[tid] != c) next
			ret = $NF; if (ret ~ /^0x/) ret = hex(ret)
			k = (pid in name ? name[pid] : pid) " fd " efd[tid] " " c
			if (ret + 0 < 0) { fail[k]++ } else { calls[k]++; sum[k] += ret }
			keys[k] = 1
		}
		END {
			for (k in keys) printf "%-28s %10.0f %10.0f %12.1f\n", k, calls[k] / secs, fail[k] / secs, calls[k] ? sum[k] / calls[k] : 0
		}' | sort | { printf "%-28s %10s %10s %12s\n" "process fd call" "calls/s" "failed/s" "mean return"; cat; } >"$RESULTS/syscalls-$1.txt"
}
