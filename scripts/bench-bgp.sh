#!/usr/bin/env bash
# bench-bgp.sh — the BGP mode of `make bench` (BGP=1): how fast a gateway
# puts a BGP-learned route to use and follows a withdrawal and a
# re-announcement, vpngw against strongSwan + FRR as the gateway (the
# baseline), same run, same site. See docs/benchmarks.md ("BGP").
#
#   VNet host 10.1.0.10 --lan0-- 10.1.0.1 gateway 192.0.2.1 ==wan0== 192.0.2.2 site device 10.2.0.1 --lan0-- 10.2.0.10 site host
#                                BGP 10.1.255.30, ASN 65515                BGP 10.2.255.1 (lo), ASN 65010   + 10.60.0.10/32
#
# The site device (the same for both systems) runs strongSwan 5.9.8
# (kernel-libipsec, responder, local_ts 10.2.0.0/16 + 10.60.0.0/16, remote_ts
# 10.1.0.0/16) and FRR's bgpd (no zebra) announcing 10.60.0.0/24, a prefix
# only BGP knows: its host has 10.60.0.10. The gateway is either
#   vpngw      one `vpngw agent` with bgpSettings (Azure's default timers)
#              and one enableBgp connection (static prefix 10.2.0.0/24)
#   frr-swan   charon 5.9.8 (kernel-libipsec, initiator, local_ts
#              10.1.0.0/16, remote_ts 0.0.0.0/0, install_routes = no) with
#              routes 10.2.0.0/24 and 10.2.255.1/32 into ipsec0, plus FRR's
#              zebra and bgpd (default timers, connect retry 10 s as vpngw's)
#              installing what bgpd learns in the kernel
# Each repeat runs both, in an order rotated per repeat; for each the site
# daemons are started afresh, then it measures
#   first_route   gateway start (agent / zebra+bgpd+charon) → the first reply
#                 of the VNet host's ping (every 10 ms) to 10.60.0.10
#   withdraw      `no network 10.60.0.0/24` on the site → the last reply
#                 (ping every 10 ms; 0 if none came back after it)
#   reannounce    `network 10.60.0.0/24` on the site → the first reply
#
# Env: REPEATS=5; WINDOW=5 (seconds the withdrawal ping runs); VPNGW_BIN;
# RESULTS=bench-results/bgp-<timestamp>; SYSTEMS="vpngw frr-swan".
# Output: per-repeat lines and the table (stdout and $RESULTS/bgp.md:
# medians and every per-repeat ratio vpngw / frr-swan), bgp.tsv, the
# daemons' logs. Needs root; everything it starts is stopped by PID and its
# namespaces deleted on exit, Ctrl-C and errors. Every wait is bounded
# (ping -w, timeout).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

REPEATS=${REPEATS:-5}
WINDOW=${WINDOW:-5}
SYSTEMS=${SYSTEMS:-"vpngw frr-swan"}
VPNGW_BIN=${VPNGW_BIN:-$ROOT/bin/vpngw}
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-$ROOT/bench-results/bgp-$STAMP}
CHARON=/usr/lib/ipsec/charon
BGPD=/usr/lib/frr/bgpd ZEBRA=/usr/lib/frr/zebra
PSK=vbenchBGP0123456789abcdef
IKE_PROPOSAL=aes256gcm16-prfsha256-ecp256 ESP_PROPOSAL=aes256gcm16

ID=vbgp$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_VH=$ID-vh NS_GW=$ID-gw NS_SD=$ID-sd NS_SH=$ID-sh
ALL_NS=("$NS_VH" "$NS_GW" "$NS_SD" "$NS_SH")
RUN=/run/$ID # charon's /run (bind-mounted) per side, FRR's sockets
LOGS=$RESULTS/logs
CONF=$RESULTS/conf

BENCH_NAME=bench-bgp
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	set +e
	for p in "${PIDS[@]}"; do stop_pid "$p" 30; done
	kill_tracked_and_netns "${ALL_NS[@]}"
	rm -rf "$RUN"
	exit "$rc"
}

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, TUN devices)"
for c in ip ping vtysh swanctl timeout od awk; do
	command -v "$c" >/dev/null || die "$c is missing (make deps installs the Debian packages)"
done
for b in "$CHARON" "$BGPD" "$ZEBRA" "$VPNGW_BIN"; do [ -x "$b" ] || die "$b is missing (make deps / make build)"; done
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer"
[[ "$WINDOW" =~ ^[1-9][0-9]*$ ]] || die "WINDOW must be a positive integer (seconds)"
for s in $SYSTEMS; do case "$s" in vpngw | frr-swan) ;; *) die "unknown system $s (vpngw, frr-swan)" ;; esac; done

mkdir -p "$RESULTS" "$LOGS" "$CONF" "$RUN"
trap cleanup EXIT
trap 'echo "bench-bgp: interrupted" >&2; exit 130' INT TERM

# --- topology ------------------------------------------------------------------
gateway_pair "${ALL_NS[@]}"
nsx "$NS_VH" ip addr add 10.1.0.10/24 dev lan0
nsx "$NS_VH" ip route add default via 10.1.0.1
nsx "$NS_GW" ip addr add 10.1.0.1/24 dev lan0
nsx "$NS_GW" ip addr add 192.0.2.1/24 dev wan0
nsx "$NS_SD" ip addr add 192.0.2.2/24 dev wan0
nsx "$NS_SD" ip addr add 10.2.0.1/24 dev lan0
nsx "$NS_SD" ip addr add 10.2.255.1/32 dev lo
nsx "$NS_SD" ip addr add 10.60.0.1/32 dev lo # libipsec wants a local address in each local selector
nsx "$NS_SD" ip route add 10.60.0.10/32 via 10.2.0.10
nsx "$NS_SH" ip addr add 10.2.0.10/24 dev lan0
nsx "$NS_SH" ip addr add 10.60.0.10/32 dev lan0
nsx "$NS_SH" ip route add default via 10.2.0.1

# --- strongSwan (kernel-libipsec; one charon per namespace, own /run) ------------
# swan_start NAME NS INSTALL_ROUTES LOCAL REMOTE LOCAL_TS REMOTE_TS START_ACTION LOG; sets BG_PID
swan_start() {
	local name=$1 ns=$2 dir=$RUN/$1 conf=$CONF/$1
	mkdir -p "$dir" "$conf"
	rm -f "$dir/charon.pid" "$dir/charon.vici"
	cat >"$conf/strongswan.conf" <<EOF
# generated by scripts/bench-bgp.sh (inside this charon, /run is $dir)
charon {
	load_modular = no
	load = random nonce openssl aes aesni gcm sha1 sha2 hmac kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici
	install_routes = $3
	plugins {
		vici {
			socket = unix:///run/charon.vici
		}
	}
}
EOF
	cat >"$conf/swanctl.conf" <<EOF
# generated by scripts/bench-bgp.sh
connections {
	s2s {
		local_addrs = $4
		remote_addrs = $5
		encap = yes
		proposals = $IKE_PROPOSAL
		local { auth = psk
			id = $4 }
		remote { auth = psk
			id = $5 }
		children {
			net {
				local_ts = $6
				remote_ts = $7
				esp_proposals = $ESP_PROPOSAL
				start_action = $8
			}
		}
	}
}
EOF
	swan_secrets "$PSK" >>"$conf/swanctl.conf"
	nsx_bg "$ns" "$9" sh -c "mount --bind '$dir' /run && exec env STRONGSWAN_CONF='$conf/strongswan.conf' $CHARON"
	local pid=$BG_PID
	for _ in $(seq 1 100); do
		[ -S "$dir/charon.vici" ] && break
		alive "$pid" || break
		sleep 0.02
	done
	[ -S "$dir/charon.vici" ] || { echo "charon in $ns did not come up" >&2; return 1; }
	BG_PID=$pid
}
swan_load() { # NAME
	timeout 20 swanctl --load-all --uri "unix://$RUN/$1/charon.vici" --file "$CONF/$1/swanctl.conf" >>"$LOGS/swanctl-$1.log" 2>&1
}

# --- FRR --------------------------------------------------------------------------
frr_conf() { # ASN ID PEER PEER_ASN CONNECT_RETRY NETWORK
	cat <<EOF
router bgp $1
 bgp router-id $2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor $3 remote-as $4
 neighbor $3 update-source $2
 neighbor $3 ebgp-multihop 2
 neighbor $3 timers connect $5
 address-family ipv4 unicast
  network $6
 exit-address-family
EOF
}
# vtysh_site CMD...: configuration commands for the site's bgpd.
vtysh_site() {
	local args=() c
	for c in "configure terminal" "router bgp 65010" "address-family ipv4 unicast" "$@"; do args+=(-c "$c"); done
	timeout 10 vtysh --vty_socket "$RUN/site-frr" "${args[@]}" >>"$LOGS/vtysh-site.log" 2>&1
}

# --- timing --------------------------------------------------------------------
now() { date +%s.%N; }
# reply_ts FILE first|last: the -D timestamp of ping's first or last reply.
reply_ts() {
	local sel=$2
	awk -v sel="$sel" '/ bytes from / { gsub(/[\[\]]/, "", $1); t = $1; if (sel == "first") { print t; exit } } END { if (sel == "last" && t != "") print t }' "$1"
}
# until_reply PID FILE: wait until ping (under timeout, PID) has a reply
# in FILE or has ended, then stop it. (ping -c 1 or -w would end at the
# first ICMP error: the gateway's "net unreachable" before the route exists.)
until_reply() {
	while alive "$1" && ! grep -q ' bytes from ' "$2"; do sleep 0.05; done
	stop_pid "$1" 1
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { d = (b - a) * 1000; if (d < 0) d = 0; printf "%.0f", d }'; }
record() { # REPEAT SYSTEM METRIC MS
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS/bgp.tsv"
	log "  repeat $1 $2 $3: ${4} ms"
}

# --- one system in one repeat ------------------------------------------------------
SITE_PIDS=() GW_PIDS=()
site_up() { # REPEAT SYSTEM
	local tag=$2-r$1
	swan_start site "$NS_SD" yes 192.0.2.2 192.0.2.1 "10.2.0.0/16,10.60.0.0/16" 10.1.0.0/16 none "$LOGS/$tag-site-charon.log" || return 1
	SITE_PIDS+=("$BG_PID")
	swan_load site || return 1
	mkdir -p "$RUN/site-frr"
	frr_conf 65010 10.2.255.1 10.1.255.30 65515 1 10.60.0.0/24 >"$CONF/site-bgpd.conf"
	nsx_bg "$NS_SD" "$LOGS/$tag-site-bgpd.log" "$BGPD" -Z -n -S -P 0 -f "$CONF/site-bgpd.conf" -i "$RUN/site-frr/bgpd.pid" \
		--vty_socket "$RUN/site-frr" --log stdout
	SITE_PIDS+=("$BG_PID")
	for _ in $(seq 1 100); do [ -S "$RUN/site-frr/bgpd.vty" ] && return 0; sleep 0.02; done
	echo "the site's bgpd did not come up" >&2
	return 1
}
gw_up_vpngw() { # REPEAT
	cat >"$CONF/vpngw.yaml" <<EOF
# generated by scripts/bench-bgp.sh
name: $ID-gw
localAddress: 192.0.2.1
localPrefixes: [10.1.0.0/16]
statusSocket: $RUN/vpngw.sock
tunnel:
  device: vpngw0
  mtu: 1400
bgpSettings:
  asn: 65515
  bgpPeeringAddress: 10.1.255.30
connections:
  - name: to-site
    remoteAddress: 192.0.2.2
    remotePrefixes: [10.2.0.0/24]
    sharedKey: $PSK
    ikeProposals: $IKE_PROPOSAL
    espProposals: $ESP_PROPOSAL
    udpEncapsulation: always
    enableBgp: true
    bgpPeer: {asn: 65010, bgpPeeringAddress: 10.2.255.1}
EOF
	nsx_bg "$NS_GW" "$LOGS/vpngw-r$1-agent.log" "$VPNGW_BIN" agent --config "$CONF/vpngw.yaml" --log-level info
	GW_PIDS+=("$BG_PID")
}
gw_up_frr_swan() { # REPEAT
	local tag=frr-swan-r$1
	mkdir -p "$RUN/gw-frr"
	: >"$CONF/zebra.conf"
	frr_conf 65515 10.1.255.30 10.2.255.1 65010 10 10.1.0.0/16 >"$CONF/gw-bgpd.conf"
	nsx "$NS_GW" ip addr replace 10.1.255.30/32 dev lo
	chown frr:frr "$RUN/gw-frr" # zebra runs as frr (keeping the capabilities it needs)
	nsx_bg "$NS_GW" "$LOGS/$tag-zebra.log" "$ZEBRA" -P 0 -f "$CONF/zebra.conf" -i "$RUN/gw-frr/zebra.pid" \
		-z "$RUN/gw-frr/zserv.api" --vty_socket "$RUN/gw-frr" --log stdout
	GW_PIDS+=("$BG_PID")
	for _ in $(seq 1 100); do [ -S "$RUN/gw-frr/zserv.api" ] && break; sleep 0.02; done
	[ -S "$RUN/gw-frr/zserv.api" ] || { echo "zebra did not come up" >&2; return 1; }
	nsx_bg "$NS_GW" "$LOGS/$tag-bgpd.log" "$BGPD" -S -P 0 -f "$CONF/gw-bgpd.conf" -i "$RUN/gw-frr/bgpd.pid" \
		-z "$RUN/gw-frr/zserv.api" --vty_socket "$RUN/gw-frr" --log stdout
	GW_PIDS+=("$BG_PID")
	swan_start gw "$NS_GW" no 192.0.2.1 192.0.2.2 10.1.0.0/16 0.0.0.0/0 start "$LOGS/$tag-gw-charon.log" || return 1
	GW_PIDS+=("$BG_PID")
	# kernel-libipsec installs routes for the negotiated selectors in table
	# 220 whatever install_routes says: without the rule that looks it up
	# (kernel-netlink adds it when charon starts) only our routes and
	# zebra's steer packets into ipsec0.
	nsx "$NS_GW" ip rule del lookup 220 &&
		nsx "$NS_GW" ip route replace 10.2.0.0/24 dev ipsec0 &&
		nsx "$NS_GW" ip route replace 10.2.255.1/32 dev ipsec0 &&
		swan_load gw
}
down() { # REPEAT SYSTEM
	local p
	for p in "${GW_PIDS[@]}" "${SITE_PIDS[@]}"; do stop_pid "$p" 30; done
	GW_PIDS=() SITE_PIDS=()
	nsx "$NS_GW" ip addr del 10.1.255.30/32 dev lo 2>/dev/null || true
	return 0
}

# gw_routes FILE: the gateway's rules and routes, for the record.
gw_routes() {
	{
		nsx "$NS_GW" ip rule
		nsx "$NS_GW" ip route show table all
		[ -S "$RUN/gw-frr/zebra.vty" ] && timeout 10 vtysh --vty_socket "$RUN/gw-frr" -c "show ip route" -c "show bgp ipv4 unicast" -c "show ip nht"
	} >"$1" 2>&1 || true
}

run_system() { # REPEAT SYSTEM
	local r=$1 s=$2 t0 t1 tw ta p out=$RESULTS/raw
	mkdir -p "$out"
	log "repeat $r/$REPEATS: $s"
	site_up "$r" "$s" || { fail "$s, repeat $r: the site did not come up (logs in $LOGS)"; down "$r" "$s"; return 1; }
	# (a) gateway start → first reply through the learned route.
	nsx_bg "$NS_VH" "$out/$s-r$r-first.txt" timeout 30 ping -D -n -i 0.01 10.60.0.10
	p=$BG_PID
	t0=$(now)
	"gw_up_${s//-/_}" "$r" || fail "$s, repeat $r: the gateway did not come up (logs in $LOGS)"
	until_reply "$p" "$out/$s-r$r-first.txt"
	t1=$(reply_ts "$out/$s-r$r-first.txt" first)
	if [ -z "$t1" ]; then
		fail "$s, repeat $r: no reply from 10.60.0.10 within 30 s"
		gw_routes "$LOGS/$s-r$r-routes-failed.txt"
		down "$r" "$s"
		return 1
	fi
	record "$r" "$s" first_route "$(ms "$t0" "$t1")"
	gw_routes "$LOGS/$s-r$r-routes-up.txt"
	sleep 1
	# (b) withdrawal: the last reply after it.
	nsx_bg "$NS_VH" "$out/$s-r$r-withdraw.txt" timeout "$WINDOW" ping -D -n -i 0.01 10.60.0.10
	p=$BG_PID
	sleep 0.5
	tw=$(now)
	vtysh_site "no network 10.60.0.0/24" || fail "$s, repeat $r: vtysh (withdraw)"
	wait "$p" 2>/dev/null || true
	stop_pid "$p" 1
	t1=$(reply_ts "$out/$s-r$r-withdraw.txt" last)
	if [ -z "$t1" ]; then
		fail "$s, repeat $r: no reply at all in the withdrawal window"
	elif awk -v a="$t1" -v b="$tw" -v w="$WINDOW" 'BEGIN { exit !(a - b > w - 1.5) }'; then
		fail "$s, repeat $r: replies until the end of the withdrawal window (route not withdrawn)"
	else
		record "$r" "$s" withdraw "$(ms "$tw" "$t1")"
	fi
	gw_routes "$LOGS/$s-r$r-routes-withdrawn.txt"
	# (c) re-announcement: the first reply after it.
	nsx_bg "$NS_VH" "$out/$s-r$r-announce.txt" timeout 20 ping -D -n -i 0.01 10.60.0.10
	p=$BG_PID
	sleep 0.2
	ta=$(now)
	vtysh_site "network 10.60.0.0/24" || fail "$s, repeat $r: vtysh (announce)"
	until_reply "$p" "$out/$s-r$r-announce.txt"
	t1=$(reply_ts "$out/$s-r$r-announce.txt" first)
	if [ -z "$t1" ]; then
		fail "$s, repeat $r: no reply within 20 s of the re-announcement"
	else
		record "$r" "$s" reannounce "$(ms "$ta" "$t1")"
	fi
	down "$r" "$s"
}

# --- report ------------------------------------------------------------------------------
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
report() {
	local m md=$RESULTS/bgp.md v f ratios
	{
		echo "# BGP: vpngw vs strongSwan + FRR ($ID, $(date -Is))"
		echo
		echo "vpngw $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo unknown) (kernel-libipsec), FRR $(dpkg-query -W -f='${Version}' frr 2>/dev/null || echo unknown); repeats $REPEATS; load average at start $LOAD_START ($(nproc) CPUs)"
		echo
		echo "| metric (ms) | vpngw median | frr-swan median | vpngw / frr-swan per repeat |"
		echo "|---|---|---|---|"
		for m in first_route withdraw reannounce; do
			v=$(awk -F'\t' -v m="$m" '$2 == "vpngw" && $3 == m { print $4 }' "$RESULTS/bgp.tsv" | median)
			f=$(awk -F'\t' -v m="$m" '$2 == "frr-swan" && $3 == m { print $4 }' "$RESULTS/bgp.tsv" | median)
			ratios=$(awk -F'\t' -v m="$m" '$3 == m { x[$1, $2] = $4; r[$1] = 1 }
				END { n = 0; for (i = 1; i <= 1000; i++) if (i in r) {
					a = x[i, "vpngw"]; b = x[i, "frr-swan"]
					s = (a == "" || b == "") ? "-" : (b == 0 ? "inf" : sprintf("%.2f", a / b))
					printf "%s%s", (n++ ? " " : ""), s } }' "$RESULTS/bgp.tsv")
			echo "| $m | $v | $f | $ratios |"
		done
	} >"$md"
	cat "$md"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$RESULTS/bgp.tsv"
log "bench-bgp $ID: systems [$SYSTEMS] x $REPEATS repeats; results in $RESULTS"
read -r -a SYS <<<"$SYSTEMS"
status=0
for r in $(seq 1 "$REPEATS"); do
	n=${#SYS[@]}
	for i in $(seq 0 $((n - 1))); do
		run_system "$r" "${SYS[$(((i + r - 1) % n))]}" || status=1
	done
done
echo
report
[ -s "$RESULTS/failures.txt" ] && { echo "failures:"; cat "$RESULTS/failures.txt"; status=1; }
exit $status
