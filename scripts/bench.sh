#!/usr/bin/env bash
# bench.sh — `make bench`: vpngw's data plane and IKE setup latency measured
# against plain routing, strongSwan (kernel-libipsec) and wireguard-go, all in
# one invocation on one topology. See docs/benchmarks.md.
#
#   host A 10.1.0.10 --lan0-- 10.1.0.1 gw A 192.0.2.1 ==wan0== 192.0.2.2 gw B 10.2.0.1 --lan0-- 10.2.0.10 host B
#
# Four network namespaces (ID-ah, ID-ag, ID-bg, ID-bh; ID = vbench + random
# hex). The hosts route via their gateway; the gateways have no default
# route, so host traffic crosses both gateways: plain routes or a tunnel.
#
# Each repeat runs every mode back to back, in an order rotated per repeat, so
# the noise of a shared machine hits every mode alike:
#   plain         kernel forwarding, no tunnel
#   vpngw-udp     two `vpngw agent` processes, AES-256-GCM, udpEncapsulation: always
#                 (+ IKE_SA+CHILD_SA setup latency cycles)
#   vpngw-esp     the same with raw ESP (IP protocol 50)
#   strongswan    charon 5.9.8 + kernel-libipsec on both gateways, AES-256-GCM, encap=yes
#                 (+ setup latency cycles)
#   wireguard-go  wireguard-go on both gateways
#   vpngw-before  (with VPNGW_BEFORE=path) another vpngw binary, as vpngw-udp:
#                 a same-run before/after comparison of a change
#   vpngw-before-esp  (with VPNGW_BEFORE=path, only when named in MODES) the same
#                 binary as vpngw-esp (raw ESP)
# and for each mode one bounded iperf3 transfer per stream count (-t 10 -O 1),
# sampling the daemons' and the box's CPU time (bin/vpngw-bench does the
# measuring and the report). Two more modes run only setup cycles, no
# transfer: IKEv1 Main Mode (PSK) + Quick Mode with aes256-sha256-modp2048 /
# aes256-sha256 (no PFS) and UDP encapsulation forced, on both sides
#   vpngw-ikev1       the two agents, RouteBased, connectionProtocol: IKEv1
#   strongswan-ikev1  the two charons with version = 1
# The report has a separate "IKEv1 setup latency" section and target
# (vpngw / strongSwan median <= 0.5x).
#
# Env:
#   SCALE="1000"      run the scale mode instead (scripts/bench-scale.sh)
#   TUNNELS=100       run the many-tunnels mode instead (scripts/bench-tunnels.sh)
#   GWOPS=100         run the gateway-operations mode instead (scripts/bench-gwops.sh)
#   BGP=1             run the BGP mode instead (scripts/bench-bgp.sh)
#   P2S="1000"        run the point-to-site variant of the scale mode instead (bench-scale.sh)
#   REPEATS=3         repeats
#   DURATION=10 OMIT=1  iperf3 -t and -O (seconds)
#   STREAMS="1 4"     iperf3 -P values
#   MODES="plain vpngw-udp vpngw-esp strongswan wireguard-go vpngw-ikev1 strongswan-ikev1"
#   SETUP_N=20        measured setup cycles per implementation and protocol, spread over the repeats
#   VPNGW_BEFORE=path  add the vpngw-before mode with this binary
#   PING_N=0          after each mode's transfers, N pings host A -> host B at 5 ms
#                     intervals (one warm-up first); the RTTs in ping-MODE-rREPEAT.txt,
#                     min/median/p90 in the log
#   PERF=0            1: `perf record -g -F 499` of both daemons during each mode's
#                     first transfer of repeat 1 (perf-MODE.data and the folded
#                     stacks perf-MODE.folded in $RESULTS)
#   VPNGW_BIN=bin/vpngw   WG_BIN (default: built into bin/bench/wireguard)
#   RESULTS=bench-results/<timestamp>
#
# Output: progress lines, then a summary table (absolute medians and ratios);
# results.json, results.md, the samples (*.jsonl), iperf3's JSON (raw/) and the
# daemons' logs (logs/) in $RESULTS. Needs root. Everything it starts is
# stopped by PID and every namespace deleted on exit, Ctrl-C and errors.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# SCALE="1000 10000": the scale mode instead (many tunnels on one responder);
# P2S="1000 10000" its point-to-site variant.
if [ -n "${SCALE:-}" ] || [ -n "${P2S:-}" ]; then exec "$ROOT/scripts/bench-scale.sh"; fi
# TUNNELS=100: the many-tunnels mode instead (N flows through 1 and N tunnels).
if [ -n "${TUNNELS:-}" ]; then exec "$ROOT/scripts/bench-tunnels.sh"; fi
# GWOPS=100: the gateway-operations mode instead (vpngw serve, N connections).
if [ -n "${GWOPS:-}" ]; then exec "$ROOT/scripts/bench-gwops.sh"; fi
# BGP=1: the BGP mode instead (learned route in use, convergence; vs strongSwan + FRR).
if [ -n "${BGP:-}" ]; then exec "$ROOT/scripts/bench-bgp.sh"; fi
export PATH=$PATH:/usr/local/go/bin

REPEATS=${REPEATS:-3}
DURATION=${DURATION:-10}
OMIT=${OMIT:-1}
STREAMS=${STREAMS:-"1 4"}
VPNGW_BEFORE=${VPNGW_BEFORE:-}
MODES=${MODES:-"plain vpngw-udp vpngw-esp strongswan wireguard-go vpngw-ikev1 strongswan-ikev1${VPNGW_BEFORE:+ vpngw-before}"}
SETUP_N=${SETUP_N:-20}
PING_N=${PING_N:-0}
PERF=${PERF:-0}
VPNGW_BIN=${VPNGW_BIN:-$ROOT/bin/vpngw}
WG_BIN=${WG_BIN:-$ROOT/bin/bench/wireguard}
BENCH=$ROOT/bin/vpngw-bench
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-$ROOT/bench-results/$STAMP}
CHARON=/usr/lib/ipsec/charon

IKE_PROPOSAL=aes256gcm16-prfsha256-ecp256
ESP_PROPOSAL=aes256gcm16
# IKEv1 (the *-ikev1 modes): no AES-GCM in phase 1, so AES-CBC with HMAC;
# no PFS in Quick Mode, as the IKEv2 Child SA has none.
IKE_V1_PROPOSAL=aes256-sha256-modp2048
ESP_V1_PROPOSAL=aes256-sha256
PSK=vbenchPSK0123456789abcdef

ID=vbench$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_AH=$ID-ah NS_AG=$ID-ag NS_BG=$ID-bg NS_BH=$ID-bh
ALL_NS=("$NS_AH" "$NS_AG" "$NS_BG" "$NS_BH")
RUN=/run/$ID # per-run state; charon's /run is bind-mounted from $RUN/ag and $RUN/bg
LOGS=$RESULTS/logs
CONF=$RESULTS/conf # generated configs (not under /run: charon gets its own /run)
WG_A=${ID}a WG_B=${ID}b # wireguard-go's UAPI sockets live in the shared /var/run/wireguard
SOCK_A=$RUN/vpngw-a.sock SOCK_B=$RUN/vpngw-b.sock

BENCH_NAME=bench
# log, die, fail, alive, nsx, nsx_bg (PIDS, BG_PID), gateway_pair
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

# --- processes (tracked by PID) ------------------------------------------------------
untrack() {
	local p keep=()
	for p in "${PIDS[@]}"; do [[ " $* " == *" $p "* ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
stop_pids() { # TERM, up to 5 s, KILL; then reap
	local p any
	[ $# -gt 0 ] || return 0
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 1 50); do
		any=0
		for p in "$@"; do alive "$p" && any=1; done
		[ $any = 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
	untrack "$@"
}
ns_exists() { [ -e "/run/netns/$1" ]; }

cleanup() {
	local rc=$? ns p
	trap - EXIT INT TERM
	set +e
	stop_pids "${PIDS[@]}"
	for ns in "${ALL_NS[@]}"; do
		ns_exists "$ns" || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
	rmdir /var/run/wireguard 2>/dev/null
	rm -rf "$RUN"
	exit "$rc"
}

# --- preflight and builds ------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, TUN devices)"
for c in ip iperf3 wg swanctl ss go timeout od; do
	command -v "$c" >/dev/null || die "$c is missing (make deps installs the Debian packages)"
done
[ -x "$CHARON" ] || die "$CHARON is missing (strongswan-charon)"
[ -x "$VPNGW_BIN" ] || die "$VPNGW_BIN is missing (make build)"
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer"
[ "$DURATION" -ge 2 ] || die "DURATION must be at least 2"

go build -o "$BENCH" ./bench/cmd/vpngw-bench
build_wireguard_go "$WG_BIN"

mkdir -p "$RESULTS" "$LOGS" "$CONF"
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM
mkdir -p "$RUN/ag" "$RUN/bg"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ps -eo pcpu,pid,etime,comm --sort=-pcpu | head -8 >"$LOGS/top-start.txt"

# --- topology --------------------------------------------------------------------------
topology() {
	gateway_pair "${ALL_NS[@]}"
	nsx "$NS_AH" ip addr add 10.1.0.10/24 dev lan0
	nsx "$NS_AG" ip addr add 10.1.0.1/24 dev lan0
	nsx "$NS_AG" ip addr add 192.0.2.1/24 dev wan0
	nsx "$NS_BG" ip addr add 192.0.2.2/24 dev wan0
	nsx "$NS_BG" ip addr add 10.2.0.1/24 dev lan0
	nsx "$NS_BH" ip addr add 10.2.0.10/24 dev lan0
	nsx "$NS_AH" ip route add default via 10.1.0.1
	nsx "$NS_BH" ip route add default via 10.2.0.1
}

# reachable: host A gets a ping through to host B (at most ~10 s).
reachable() {
	for _ in $(seq 1 40); do
		nsx "$NS_AH" ping -c1 -W 0.25 -q 10.2.0.10 >/dev/null 2>&1 && return 0
	done
	return 1
}

# --- plain routing ---------------------------------------------------------------------
up_plain() {
	nsx "$NS_AG" ip route replace 10.2.0.0/16 via 192.0.2.2 dev wan0 &&
		nsx "$NS_BG" ip route replace 10.1.0.0/16 via 192.0.2.1 dev wan0
}
down_plain() {
	nsx "$NS_AG" ip route del 10.2.0.0/16 2>/dev/null || true
	nsx "$NS_BG" ip route del 10.1.0.0/16 2>/dev/null || true
}

# --- vpngw ------------------------------------------------------------------------------
VPNGW_A= VPNGW_B=
vpngw_conf() { # SIDE ENCAP RAWESP [PROTOCOL]
	local side=$1 encap=$2 raw=$3 proto=${4:-IKEv2} ikep=$IKE_PROPOSAL espp=$ESP_PROPOSAL la lp ra rp conn
	[ "$proto" = IKEv1 ] && ikep=$IKE_V1_PROPOSAL espp=$ESP_V1_PROPOSAL
	if [ "$side" = a ]; then la=192.0.2.1 lp=10.1.0.0/16 ra=192.0.2.2 rp=10.2.0.0/16 conn=to-b; else
		la=192.0.2.2 lp=10.2.0.0/16 ra=192.0.2.1 rp=10.1.0.0/16 conn=to-a; fi
	cat >"$CONF/vpngw-$side.yaml" <<EOF
# generated by scripts/bench.sh
name: $ID-$side
localAddress: $la
localPrefixes: [$lp]
rawEsp: $raw
statusSocket: $RUN/vpngw-$side.sock
tunnel:
  device: vpngw0
  mtu: 1400
connections:
  - name: $conn
    remoteAddress: $ra
    remotePrefixes: [$rp]
    sharedKey: $PSK
    connectionMode: ResponderOnly   # only the benchmark's initiate requests start IKE
    connectionProtocol: $proto
    ikeProposals: $ikep
    espProposals: $espp
    udpEncapsulation: $encap
EOF
}
start_vpngw() { # MODE REPEAT ENCAP RAWESP [PROTOCOL]
	local m=$1 r=$2
	vpngw_conf a "$3" "$4" "${5:-}" && vpngw_conf b "$3" "$4" "${5:-}" || return 1
	nsx_bg "$NS_BG" "$LOGS/$m-r$r-gw-b.log" "$VPNGW_BIN" agent --config "$CONF/vpngw-b.yaml" --log-level warn
	VPNGW_B=$BG_PID
	nsx_bg "$NS_AG" "$LOGS/$m-r$r-gw-a.log" "$VPNGW_BIN" agent --config "$CONF/vpngw-a.yaml" --log-level warn
	VPNGW_A=$BG_PID
	DAEMON_PIDS=("$VPNGW_A" "$VPNGW_B")
}
up_vpngw_udp() {
	local r=$1
	start_vpngw vpngw-udp "$r" always false || return 1
	[ "$SETUP_PER" -gt 0 ] && { "$BENCH" vpngw-setup -out "$RESULTS" -repeat "$r" -a "$SOCK_A" -b "$SOCK_B" -conn to-b -n "$SETUP_PER" ||
		fail "vpngw setup latency, repeat $r"; }
	"$BENCH" vpngw-up -a "$SOCK_A" -b "$SOCK_B" -conn to-b -encap yes
}
up_vpngw_esp() {
	start_vpngw vpngw-esp "$1" auto true || return 1
	"$BENCH" vpngw-up -a "$SOCK_A" -b "$SOCK_B" -conn to-b -encap no
}
down_vpngw() { stop_pids ${VPNGW_A:+"$VPNGW_A"} ${VPNGW_B:+"$VPNGW_B"}; VPNGW_A= VPNGW_B=; }
down_vpngw_udp() { down_vpngw; }
up_vpngw_before() {
	VPNGW_BIN=$VPNGW_BEFORE start_vpngw vpngw-before "$1" always false || return 1
	"$BENCH" vpngw-up -a "$SOCK_A" -b "$SOCK_B" -conn to-b -encap yes
}
down_vpngw_before() { down_vpngw; }
up_vpngw_before_esp() {
	VPNGW_BIN=$VPNGW_BEFORE start_vpngw vpngw-before-esp "$1" auto true || return 1
	"$BENCH" vpngw-up -a "$SOCK_A" -b "$SOCK_B" -conn to-b -encap no
}
down_vpngw_before_esp() { down_vpngw; }
down_vpngw_esp() { down_vpngw; }
up_vpngw_ikev1() { # setup cycles only (Main Mode + Quick Mode), no transfer
	local r=$1
	start_vpngw vpngw-ikev1 "$r" always false IKEv1 || return 1
	"$BENCH" vpngw-setup -out "$RESULTS" -repeat "$r" -a "$SOCK_A" -b "$SOCK_B" -conn to-b -n "$SETUP_PER" -protocol IKEv1
}
down_vpngw_ikev1() { down_vpngw; }

# --- strongSwan (kernel-libipsec) -----------------------------------------------------------
# charon hard-codes /var/run/charon.pid: each runs with $RUN/<gw> bind-mounted
# over /run in the private mount namespace `ip netns exec` gives it, so its pid
# file and vici socket land in $RUN/<gw>. kernel-libipsec (userspace ESP, UDP
# encapsulation only) must come before kernel-netlink in the plugin list.
SWAN_A= SWAN_B=
swan_conf() { # SIDE [IKE_VERSION]
	local side=$1 dir=$CONF/${1}g ver=${2:-2} ikep=$IKE_PROPOSAL espp=$ESP_PROPOSAL la ra lts rts lid rid
	[ "$ver" = 1 ] && ikep=$IKE_V1_PROPOSAL espp=$ESP_V1_PROPOSAL
	if [ "$side" = a ]; then la=192.0.2.1 ra=192.0.2.2 lts=10.1.0.0/16 rts=10.2.0.0/16 lid=192.0.2.1 rid=192.0.2.2; else
		la=192.0.2.2 ra=192.0.2.1 lts=10.2.0.0/16 rts=10.1.0.0/16 lid=192.0.2.2 rid=192.0.2.1; fi
	cat >"$dir/strongswan.conf" <<EOF
# generated by scripts/bench.sh (inside this charon, /run is $RUN/${side}g)
charon {
	load_modular = no
	load = random nonce openssl aes aesni gcm sha1 sha2 hmac kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici
	install_routes = yes
	threads = 16
	filelog {
		charon {
			path = /run/charon.log
			time_format = %T
			append = no
			default = 0
		}
	}
	plugins {
		vici {
			socket = unix:///run/charon.vici
		}
	}
}
EOF
	cat >"$dir/swanctl.conf" <<EOF
# generated by scripts/bench.sh
connections {
	s2s {
		version = $ver
		local_addrs = $la
		remote_addrs = $ra
		encap = yes
		proposals = $ikep
		rekey_time = 0
		dpd_delay = 0
		local {
			auth = psk
			id = $lid
		}
		remote {
			auth = psk
			id = $rid
		}
		children {
			net {
				local_ts = $lts
				remote_ts = $rts
				esp_proposals = $espp
				mode = tunnel
				rekey_time = 0
				start_action = none
			}
		}
	}
}
EOF
	swan_secrets "$PSK" >>"$dir/swanctl.conf"
}
start_charon() { # SIDE MODE REPEAT [IKE_VERSION]; sets BG_PID
	local side=$1 dir=$RUN/${1}g conf=$CONF/${1}g ns
	[ "$side" = a ] && ns=$NS_AG || ns=$NS_BG
	mkdir -p "$conf" && swan_conf "$side" "${4:-2}" || return 1
	rm -f "$dir/charon.pid" "$dir/charon.vici"
	nsx_bg "$ns" "$LOGS/$2-r$3-gw-$side.log" sh -c "mount --bind '$dir' /run && exec env STRONGSWAN_CONF='$conf/strongswan.conf' $CHARON"
	for _ in $(seq 1 100); do
		[ -S "$dir/charon.vici" ] && break
		alive "$BG_PID" || break
		sleep 0.05
	done
	[ -S "$dir/charon.vici" ] || { echo "charon in $ns did not come up" >&2; return 1; }
	timeout 20 swanctl --load-all --uri "unix://$dir/charon.vici" --file "$conf/swanctl.conf" >"$LOGS/$2-r$3-swanctl-$side.log" 2>&1 ||
		{ grep -v '^opening directory' "$LOGS/$2-r$3-swanctl-$side.log" >&2; return 1; }
}
start_charons() { # MODE REPEAT IKE_VERSION
	start_charon b "$1" "$2" "$3" || return 1
	SWAN_B=$BG_PID
	start_charon a "$1" "$2" "$3" || return 1
	SWAN_A=$BG_PID
	DAEMON_PIDS=("$SWAN_A" "$SWAN_B")
}
up_strongswan() {
	local r=$1
	start_charons strongswan "$r" 2 || return 1
	[ "$SETUP_PER" -gt 0 ] && { "$BENCH" swan-setup -out "$RESULTS" -repeat "$r" -a "$RUN/ag/charon.vici" -b "$RUN/bg/charon.vici" \
		-ike s2s -child net -n "$SETUP_PER" || fail "strongSwan setup latency, repeat $r"; }
	timeout 20 swanctl --initiate --uri "unix://$RUN/ag/charon.vici" --ike s2s --child net --timeout 10 >>"$LOGS/strongswan-r$r-swanctl-a.log" 2>&1
}
down_charons() { # MODE REPEAT
	local s
	stop_pids ${SWAN_A:+"$SWAN_A"} ${SWAN_B:+"$SWAN_B"}
	SWAN_A= SWAN_B=
	for s in a b; do
		[ -f "$RUN/${s}g/charon.log" ] && mv "$RUN/${s}g/charon.log" "$LOGS/$1-r$2-charon-$s.log"
	done
	return 0
}
down_strongswan() { down_charons strongswan "$1"; }
up_strongswan_ikev1() { # setup cycles only (Main Mode + Quick Mode), no transfer
	local r=$1
	start_charons strongswan-ikev1 "$r" 1 || return 1
	"$BENCH" swan-setup -out "$RESULTS" -repeat "$r" -a "$RUN/ag/charon.vici" -b "$RUN/bg/charon.vici" \
		-ike s2s -child net -n "$SETUP_PER" -protocol IKEv1
}
down_strongswan_ikev1() { down_charons strongswan-ikev1 "$1"; }

# --- wireguard-go -----------------------------------------------------------------------------
up_wireguard_go() {
	wg_gateways_up "$LOGS/wireguard-go-r$1" || return 1
	DAEMON_PIDS=("$WG_PID_A" "$WG_PID_B")
}
down_wireguard_go() {
	stop_pids ${WG_PID_A:+"$WG_PID_A"} ${WG_PID_B:+"$WG_PID_B"}
	WG_PID_A= WG_PID_B=
	rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
}

# --- one mode in one repeat ------------------------------------------------------------------
run_mode() { # MODE REPEAT
	local m=$1 r=$2 fn=${1//-/_} p rc=0 pids
	DAEMON_PIDS=()
	log "repeat $r/$REPEATS: $m"
	if [[ $m == *-ikev1 ]]; then # setup cycles only, run by up_*
		"up_$fn" "$r" || { fail "$m, repeat $r: setup cycles failed (logs in $LOGS)"; rc=1; }
	elif ! "up_$fn" "$r"; then
		fail "$m, repeat $r: could not bring the mode up (logs in $LOGS)"
		rc=1
	elif ! reachable; then
		fail "$m, repeat $r: host B is not reachable from host A"
		rc=1
	else
		pids=$(IFS=,; echo "${DAEMON_PIDS[*]}")
		local perfpid=
		for p in $STREAMS; do
			if [ "$PERF" = 1 ] && [ "$r" = 1 ] && [ -z "$perfpid" ] && [ -n "$pids" ]; then
				# the transfer's measured part, after iperf3's start and omit
				perf_start "$m" "$pids"
				perfpid=$PERF_PID
			fi
			"$BENCH" iperf -out "$RESULTS" -mode "$m" -repeat "$r" -streams "$p" -t "$DURATION" -O "$OMIT" \
				-client-ns "$NS_AH" -server-ns "$NS_BH" -dst 10.2.0.10 ${pids:+-pids "$pids"} || rc=1
			if [ -n "$perfpid" ]; then
				perf_finish "$m" "$perfpid"
				perfpid=done
			fi
		done
		[ "$PING_N" -gt 0 ] && { ping_rtt "$m" "$r" || rc=1; }
	fi
	"down_$fn" "$r"
	return $rc
}


# ping_rtt MODE REPEAT: PING_N pings through the mode's path, RTTs kept.
ping_rtt() {
	local f=$RESULTS/ping-$1-r$2.txt
	nsx "$NS_AH" ping -c 1 -W 1 -q 10.2.0.10 >/dev/null 2>&1 || true
	nsx "$NS_AH" ping -c "$PING_N" -i 0.005 -W 1 10.2.0.10 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' >"$f"
	[ -s "$f" ] || { fail "$1, repeat $2: no ping replies"; return 1; }
	log "$1 repeat $2 ping RTT ms: $(sort -n "$f" | awk '{ v[NR] = $1 } END { printf "n=%d min %.3f median %.3f p90 %.3f", NR, v[1], v[int((NR + 1) / 2)], v[int(NR * 0.9)] }')"
}

# --- main ---------------------------------------------------------------------------------------
read -r -a MODE_LIST <<<"$MODES"
for m in "${MODE_LIST[@]}"; do
	case "$m" in plain | vpngw-udp | vpngw-esp | strongswan | wireguard-go | vpngw-ikev1 | strongswan-ikev1) ;;
	vpngw-before | vpngw-before-esp) [ -x "$VPNGW_BEFORE" ] || die "mode $m needs VPNGW_BEFORE=path to a vpngw binary" ;;
	*) die "unknown mode $m" ;; esac
done
SETUP_PER=$(((SETUP_N + REPEATS - 1) / REPEATS))
START_TS=$(date -Is)
log "bench $ID: ${#MODE_LIST[@]} modes x streams [$STREAMS] x $REPEATS repeats, iperf3 -t $DURATION -O $OMIT; results in $RESULTS"
log "load average at start: $LOAD_START ($(nproc) CPUs)"
topology

status=0
for r in $(seq 1 "$REPEATS"); do
	"$BENCH" idle -out "$RESULTS" -repeat "$r" -window 1s || status=1
	n=${#MODE_LIST[@]}
	for i in $(seq 0 $((n - 1))); do
		m=${MODE_LIST[$(((i + r - 1) % n))]}
		run_mode "$m" "$r" || status=1
	done
done

vcs=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] && vcs="$vcs (uncommitted changes)"
"$BENCH" report -dir "$RESULTS" \
	-meta "started=$START_TS" \
	-meta "id=$ID" \
	-meta "repeats=$REPEATS" \
	-meta "iperf3=$(iperf3 --version | head -1 | cut -d' ' -f1-2), -t $DURATION -O $OMIT, streams $STREAMS" \
	-meta "modes=$MODES" \
	-meta "setup_cycles=$SETUP_PER per repeat, implementation and protocol (+1 warm-up)" \
	-meta "proposals=IKE $IKE_PROPOSAL, ESP $ESP_PROPOSAL; IKEv1 modes: IKE $IKE_V1_PROPOSAL, ESP $ESP_V1_PROPOSAL" \
	-meta "strongswan=$(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo unknown) (kernel-libipsec)" \
	-meta "wireguard-go=$WG_VERSION" \
	-meta "vpngw=$vcs" \
	-meta "go=$(go env GOVERSION)" \
	-meta "kernel=$(uname -r)" \
	-meta "loadavg_start=$LOAD_START" || status=1
echo
log "results: $RESULTS/results.md, results.json"
exit $status
