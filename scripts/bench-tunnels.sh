#!/usr/bin/env bash
# bench-tunnels.sh — the many-tunnels mode of `make bench` (TUNNELS=100):
# the same N TCP flows through one tunnel and through N tunnels at once,
# between two vpngw agents, raw ESP and UDP-encapsulated, same run. See
# docs/benchmarks.md ("Many tunnels at once").
#
#   host A 10.1.i.10 (i < N) --lan0-- 10.1.255.1 gw A 192.0.2.1 ==wan0== 192.0.2.2 gw B 10.2.255.1 --lan0-- 10.2.i.10 host B
#
# Flow i runs from 10.1.i.10 to 10.2.i.10. Modes, in an order rotated per
# repeat:
#   vpngw-udp-1flow  one connection (10.1.0.0/16 <-> 10.2.0.0/16), one flow:
#                 the single-tunnel, single-flow figure
#   vpngw-udp-1   the same connection, all N flows
#   vpngw-udp-N   N connections, connection i 10.1.i.0/24 <-> 10.2.i.0/24:
#                 one IKE SA and one Child SA per flow, all N flows
#   vpngw-esp-*   the same with raw ESP (IP protocol 50)
#   plain-1flow, plain-N  no tunnel, kernel forwarding: what the hosts' TCP
#                 stacks and veths do with one flow and with N
# The N connections run between the same two addresses (an agent has one
# local address); each side tells them apart by IKE identity (localId
# tN.a / tN.b, FQDN) and a pre-shared key of its own. The flows are
# `vpngw-bench flows` (a Go TCP source and sink, all flows at once, bytes
# counted by the sink for DURATION seconds after OMIT).
#
# Env: TUNNELS=100 (N, at most 250); REPEATS=5; DURATION=10 OMIT=2;
#      MODES="udp esp plain"; VPNGW_BIN; RESULTS.
# Output: progress lines, the table (stdout and $RESULTS/tunnels.md),
# flows.jsonl and the agents' logs. Needs root. Everything it starts is
# stopped by PID and every namespace deleted on exit, Ctrl-C and errors.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin

TUNNELS=${TUNNELS:-100}
REPEATS=${REPEATS:-5}
DURATION=${DURATION:-10}
OMIT=${OMIT:-2}
MODES=${MODES:-"udp esp plain"}
VPNGW_BIN=${VPNGW_BIN:-$ROOT/bin/vpngw}
BENCH=$ROOT/bin/vpngw-bench
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-$ROOT/bench-results/tunnels-$STAMP}
IKE_PROPOSAL=aes256gcm16-prfsha256-ecp256
ESP_PROPOSAL=aes256gcm16

ID=vtun$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_AH=$ID-ah NS_AG=$ID-ag NS_BG=$ID-bg NS_BH=$ID-bh
ALL_NS=("$NS_AH" "$NS_AG" "$NS_BG" "$NS_BH")
RUN=/run/$ID
LOGS=$RESULTS/logs
CONF=$RESULTS/conf
SOCK_A=$RUN/vpngw-a.sock SOCK_B=$RUN/vpngw-b.sock

log() { printf '%s %s\n' "$(date +%T)" "$*"; }
die() { echo "bench-tunnels: $*" >&2; exit 1; }
fail() { echo "bench-tunnels: FAILED: $*" >&2; echo "$*" >>"$RESULTS/failures.txt"; }

PIDS=()
BG_PID=
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "${st%% *}" != Z ]; }
stop_pid() { # TERM, up to 10 s, KILL; reap
	local p=$1 q keep=()
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
	for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	PIDS=("${keep[@]}")
}
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
nsx_bg() { local ns=$1 logf=$2; shift 2; ip netns exec "$ns" "$@" </dev/null >"$logf" 2>&1 & BG_PID=$!; PIDS+=("$BG_PID"); }

cleanup() {
	local rc=$? ns p
	trap - EXIT INT TERM
	set +e
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for ns in "${ALL_NS[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$RUN"
	exit "$rc"
}

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, TUN devices)"
[ -x "$VPNGW_BIN" ] || die "$VPNGW_BIN is missing (make build)"
[[ "$TUNNELS" =~ ^[0-9]+$ ]] && [ "$TUNNELS" -ge 2 ] && [ "$TUNNELS" -le 250 ] || die "TUNNELS must be 2..250"
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer"
go build -o "$BENCH" ./bench/cmd/vpngw-bench
mkdir -p "$RESULTS" "$LOGS" "$CONF" "$RUN"
trap cleanup EXIT
trap 'echo "bench-tunnels: interrupted" >&2; exit 130' INT TERM

topology() {
	local ns i
	for ns in "${ALL_NS[@]}"; do
		ip netns add "$ns"
		nsx "$ns" ip link set lo up
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	ip link add lan0 netns "$NS_AH" type veth peer name lan0 netns "$NS_AG"
	ip link add wan0 netns "$NS_AG" type veth peer name wan0 netns "$NS_BG"
	ip link add lan0 netns "$NS_BG" type veth peer name lan0 netns "$NS_BH"
	nsx "$NS_AG" ip addr add 10.1.255.1/16 dev lan0
	nsx "$NS_AG" ip addr add 192.0.2.1/24 dev wan0
	nsx "$NS_BG" ip addr add 192.0.2.2/24 dev wan0
	nsx "$NS_BG" ip addr add 10.2.255.1/16 dev lan0
	for i in $(seq 0 $((TUNNELS - 1))); do
		echo "addr add 10.1.$i.10/16 dev lan0" >>"$CONF/host-a.batch"
		echo "addr add 10.2.$i.10/16 dev lan0" >>"$CONF/host-b.batch"
	done
	nsx "$NS_AH" ip -batch "$CONF/host-a.batch"
	nsx "$NS_BH" ip -batch "$CONF/host-b.batch"
	nsx "$NS_AH" ip link set lan0 up
	nsx "$NS_AG" ip link set lan0 up
	nsx "$NS_AG" ip link set wan0 up
	nsx "$NS_BG" ip link set wan0 up
	nsx "$NS_BG" ip link set lan0 up
	nsx "$NS_BH" ip link set lan0 up
	nsx "$NS_AH" ip route add default via 10.1.255.1
	nsx "$NS_BH" ip route add default via 10.2.255.1
	for ns in "$NS_AG" "$NS_BG"; do
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
}

# vpngw_conf SIDE N ENCAP RAWESP: the agent's file with N connections
# (N = 1: one connection for both /16s).
vpngw_conf() {
	local side=$1 n=$2 encap=$3 raw=$4 la ra me them lp rp i f=$CONF/vpngw-$1-$2-$3.yaml
	if [ "$side" = a ]; then la=192.0.2.1 ra=192.0.2.2 me=a them=b lp=1 rp=2; else la=192.0.2.2 ra=192.0.2.1 me=b them=a lp=2 rp=1; fi
	{
		printf '# generated by scripts/bench-tunnels.sh\nname: %s-%s\nlocalAddress: %s\nlocalPrefixes: [10.%s.0.0/16]\nrawEsp: %s\nstatusSocket: %s\ntunnel:\n  device: vpngw0\n  mtu: 1400\nconnections:\n' \
			"$ID" "$side" "$la" "$lp" "$raw" "$RUN/vpngw-$side.sock"
		for i in $(seq 0 $((n - 1))); do
			local lpfx=10.$lp.$i.0/24 rpfx=10.$rp.$i.0/24
			[ "$n" = 1 ] && lpfx=10.$lp.0.0/16 rpfx=10.$rp.0.0/16
			printf '  - name: t%d\n    remoteAddress: %s\n    remotePrefixes: [%s]\n    localPrefixes: [%s]\n    localId: t%d.%s\n    remoteId: t%d.%s\n    sharedKey: vbenchPSK%dx0123456789\n    connectionMode: ResponderOnly\n    ikeProposals: %s\n    espProposals: %s\n    udpEncapsulation: %s\n' \
				"$i" "$ra" "$rpfx" "$lpfx" "$i" "$me" "$i" "$them" "$i" "$IKE_PROPOSAL" "$ESP_PROPOSAL" "$encap"
		done
	} >"$f"
	echo "$f"
}

run_mode() { # ENC TUNNELS FLOWS REPEAT
	local enc=$1 n=$2 flows=$3 r=$4 m="vpngw-$1-$2" encap raw want ca cb a b rc=0
	[ "$flows" = 1 ] && m="vpngw-$1-1flow"
	if [ "$enc" = plain ]; then
		m=plain-$flows
		[ "$flows" = 1 ] && m=plain-1flow
		log "repeat $r/$REPEATS: $m"
		nsx "$NS_AG" ip route replace 10.2.0.0/16 via 192.0.2.2 dev wan0
		nsx "$NS_BG" ip route replace 10.1.0.0/16 via 192.0.2.1 dev wan0
		"$BENCH" flows -out "$RESULTS" -mode "$m" -tunnels 0 -repeat "$r" -n "$flows" -t "$DURATION" -O "$OMIT" \
			-client-ns "$NS_AH" -server-ns "$NS_BH" || { fail "$m, repeat $r: flows"; rc=1; }
		nsx "$NS_AG" ip route del 10.2.0.0/16
		nsx "$NS_BG" ip route del 10.1.0.0/16
		return $rc
	fi
	case $enc in udp) encap=always raw=false want=yes ;; esp) encap=auto raw=true want=no ;; esac
	ca=$(vpngw_conf a "$n" "$encap" "$raw") && cb=$(vpngw_conf b "$n" "$encap" "$raw")
	log "repeat $r/$REPEATS: $m"
	nsx_bg "$NS_BG" "$LOGS/$m-r$r-gw-b.log" "$VPNGW_BIN" agent --config "$cb" --log-level warn
	b=$BG_PID
	nsx_bg "$NS_AG" "$LOGS/$m-r$r-gw-a.log" "$VPNGW_BIN" agent --config "$ca" --log-level warn
	a=$BG_PID
	if ! "$BENCH" tunnels-up -a "$SOCK_A" -b "$SOCK_B" -encap "$want"; then
		fail "$m, repeat $r: the tunnels did not come up (logs in $LOGS)"
		rc=1
	else
		"$BENCH" flows -out "$RESULTS" -mode "$m" -tunnels "$n" -repeat "$r" -n "$flows" -t "$DURATION" -O "$OMIT" \
			-client-ns "$NS_AH" -server-ns "$NS_BH" -pids "$a,$b" || { fail "$m, repeat $r: flows"; rc=1; }
	fi
	stop_pid "$a"
	stop_pid "$b"
	rm -f "$SOCK_A" "$SOCK_B"
	return $rc
}

list=()
for e in $MODES; do
	case $e in udp | esp) list+=("$e 1 1" "$e 1 $TUNNELS" "$e $TUNNELS $TUNNELS") ;; *) die "unknown encapsulation $e (udp, esp)" ;; esac
done
log "bench-tunnels $ID: $TUNNELS flows through 1 and $TUNNELS tunnels, [$MODES], $REPEATS repeats, ${DURATION}s after ${OMIT}s; results in $RESULTS"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
topology
status=0
for r in $(seq 1 "$REPEATS"); do
	k=${#list[@]}
	for i in $(seq 0 $((k - 1))); do
		read -r enc n flows <<<"${list[$(((i + r - 1) % k))]}"
		run_mode "$enc" "$n" "$flows" "$r" || status=1
	done
done
echo
{
	echo "vpngw $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), $TUNNELS flows, $REPEATS repeats, ${DURATION}s measured after ${OMIT}s, $(date -Is)"
	echo
	"$BENCH" flows-report -dir "$RESULTS"
} | tee "$RESULTS/tunnels.md"
exit $status
