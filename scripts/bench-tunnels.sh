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
#   wireguard-go-1flow, wireguard-go-1  wireguard-go on both gateways, one
#                 peer (10.1.0.0/16 <-> 10.2.0.0/16), one flow and all N:
#                 what the same flows cost another user-space tunnel (a
#                 WireGuard device has one key, so N tunnels between the
#                 same two devices do not exist there)
# The N connections run between the same two addresses (an agent has one
# local address); each side tells them apart by IKE identity (localId
# tN.a / tN.b, FQDN) and a pre-shared key of its own. The flows are
# `vpngw-bench flows` (a Go TCP source and sink, all flows at once, bytes
# counted by the sink for DURATION seconds after OMIT).
#
# Env: TUNNELS=100 (N, at most 250); REPEATS=5; DURATION=10 OMIT=2;
#      MODES="udp esp plain wg"; VPNGW_BIN; RESULTS; WG_BIN (default:
#      built into bin/bench/wireguard);
#      VPNGW_BEFORE=path: also vpngw-before-{udp,esp}-{1flow,1,N} with
#      this binary, a same-run before/after;
#      PERF=1: `perf record -g` of both agents during each mode's flows in
#      repeat 1 (perf-MODE.data, folded stacks perf-MODE.folded); PERF=all:
#      the same of every CPU (the hosts' TCP stacks, softirqs, idle);
#      SYSCALLS=1: the agents' read/write/recvmmsg/sendmmsg calls per
#      second and what each returned on average, per file descriptor,
#      during each mode's flows in repeat 1 (syscalls-MODE.txt).
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
MODES=${MODES:-"udp esp plain wg"}
VPNGW_BIN=${VPNGW_BIN:-$ROOT/bin/vpngw}
VPNGW_BEFORE=${VPNGW_BEFORE:-}
PERF=${PERF:-0}
SYSCALLS=${SYSCALLS:-0}
WG_BIN=${WG_BIN:-$ROOT/bin/bench/wireguard}
BENCH=$ROOT/bin/vpngw-bench
STAMP=$(date +%Y%m%d-%H%M%S)
VCS=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
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
WG_A=${ID}a WG_B=${ID}b # wireguard-go's UAPI sockets live in the shared /var/run/wireguard

BENCH_NAME=bench-tunnels
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	kill_tracked_and_netns "${ALL_NS[@]}"
	rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
	rmdir /var/run/wireguard 2>/dev/null
	rm -rf "$RUN"
	exit "$rc"
}

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, TUN devices)"
[ -x "$VPNGW_BIN" ] || die "$VPNGW_BIN is missing (make build)"
[ -z "$VPNGW_BEFORE" ] || [ -x "$VPNGW_BEFORE" ] || die "VPNGW_BEFORE=$VPNGW_BEFORE is not an executable"
[[ "$TUNNELS" =~ ^[0-9]+$ ]] && [ "$TUNNELS" -ge 2 ] && [ "$TUNNELS" -le 250 ] || die "TUNNELS must be 2..250"
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer"
go build -o "$BENCH" ./bench/cmd/vpngw-bench
case " $MODES " in *" wg "*) build_wireguard_go "$WG_BIN" ;; esac
mkdir -p "$RESULTS" "$LOGS" "$CONF" "$RUN"
trap cleanup EXIT
trap 'echo "bench-tunnels: interrupted" >&2; exit 130' INT TERM

topology() {
	local i
	gateway_pair "${ALL_NS[@]}"
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
	nsx "$NS_AH" ip route add default via 10.1.255.1
	nsx "$NS_BH" ip route add default via 10.2.255.1
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

run_mode() { # ENC TUNNELS FLOWS REPEAT [before]
	local enc=$1 n=$2 flows=$3 r=$4 impl=vpngw bin=$VPNGW_BIN encap raw want ca cb a b rc=0 m
	[ "${5:-}" = before ] && impl=vpngw-before bin=$VPNGW_BEFORE
	m="$impl-$enc-$n"
	[ "$flows" = 1 ] && m="$impl-$enc-1flow"
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
	nsx_bg "$NS_BG" "$LOGS/$m-r$r-gw-b.log" "$bin" agent --config "$cb" --log-level warn
	b=$BG_PID
	nsx_bg "$NS_AG" "$LOGS/$m-r$r-gw-a.log" "$bin" agent --config "$ca" --log-level warn
	a=$BG_PID
	if ! "$BENCH" tunnels-up -a "$SOCK_A" -b "$SOCK_B" -encap "$want"; then
		fail "$m, repeat $r: the tunnels did not come up (logs in $LOGS)"
		rc=1
	else
		if [ "$PERF" = 1 ] && [ "$r" = 1 ]; then perf_start "$m" "$a,$b" && PF_PID=$PERF_PID; fi
		if [ "$PERF" = all ] && [ "$r" = 1 ]; then perf_start "$m" "" && PF_PID=$PERF_PID; fi
		if [ "$SYSCALLS" = 1 ] && [ "$r" = 1 ]; then syscalls_start "$m" "$a,$b" && SC_PID=$PERF_PID; fi
		"$BENCH" flows -out "$RESULTS" -mode "$m" -tunnels "$n" -repeat "$r" -n "$flows" -t "$DURATION" -O "$OMIT" \
			-client-ns "$NS_AH" -server-ns "$NS_BH" -pids "$a,$b" || { fail "$m, repeat $r: flows"; rc=1; }
		if { [ "$PERF" = 1 ] || [ "$PERF" = all ]; } && [ "$r" = 1 ]; then perf_finish "$m" "$PF_PID"; fi
		if [ "$SYSCALLS" = 1 ] && [ "$r" = 1 ]; then syscalls_finish "$m" "$SC_PID" "$a=gw-a $b=gw-b"; fi
	fi
	stop_pid "$a"
	stop_pid "$b"
	rm -f "$SOCK_A" "$SOCK_B"
	return $rc
}

# run_wg FLOWS REPEAT: wireguard-go on both gateways, one peer each,
# FLOWS flows through it.
run_wg() {
	local flows=$1 r=$2 m=wireguard-go-1 rc=0
	[ "$flows" = 1 ] && m=wireguard-go-1flow
	log "repeat $r/$REPEATS: $m"
	# The first flow's packets start the handshake; OMIT covers it.
	if wg_gateways_up "$LOGS/$m-r$r"; then
		"$BENCH" flows -out "$RESULTS" -mode "$m" -tunnels 1 -repeat "$r" -n "$flows" -t "$DURATION" -O "$OMIT" \
			-client-ns "$NS_AH" -server-ns "$NS_BH" -pids "$WG_PID_A,$WG_PID_B" || { fail "$m, repeat $r: flows"; rc=1; }
	else
		fail "$m, repeat $r: wireguard-go did not come up (logs in $LOGS)"
		rc=1
	fi
	stop_pid "$WG_PID_A"
	stop_pid "$WG_PID_B"
	WG_PID_A= WG_PID_B=
	rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
	return $rc
}

list=()
for e in $MODES; do
	case $e in
	udp | esp)
		list+=("$e 1 1" "$e 1 $TUNNELS" "$e $TUNNELS $TUNNELS")
		[ -n "$VPNGW_BEFORE" ] && list+=("$e 1 1 before" "$e 1 $TUNNELS before" "$e $TUNNELS $TUNNELS before")
		;;
	plain) list+=("plain 0 1" "plain 0 $TUNNELS") ;;
	wg) list+=("wg 1 1" "wg 1 $TUNNELS") ;;
	*) die "unknown mode $e (udp, esp, plain, wg)" ;;
	esac
done
log "bench-tunnels $ID: $TUNNELS flows through 1 and $TUNNELS tunnels, [$MODES], $REPEATS repeats, ${DURATION}s after ${OMIT}s; results in $RESULTS"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
topology
status=0
for r in $(seq 1 "$REPEATS"); do
	k=${#list[@]}
	for i in $(seq 0 $((k - 1))); do
		read -r enc n flows before <<<"${list[$(((i + r - 1) % k))]}"
		if [ "$enc" = wg ]; then
			run_wg "$flows" "$r" || status=1
		else
			run_mode "$enc" "$n" "$flows" "$r" $before || status=1
		fi
	done
done
echo
{
	echo "vpngw $VPNGW_BIN (tree at $VCS when the run started), $TUNNELS flows, $REPEATS repeats, ${DURATION}s measured after ${OMIT}s, $(date -Is)"
	echo
	"$BENCH" flows-report -dir "$RESULTS"
} | tee "$RESULTS/tunnels.md"
exit $status
