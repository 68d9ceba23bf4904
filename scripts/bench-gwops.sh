#!/usr/bin/env bash
# bench-gwops.sh — the gateway-operations mode of `make bench` (GWOPS=100):
# one VpnGw5 gateway of `vpngw serve --provider lab` with N site-to-site
# connections (VpnGw5's limit is 100), all Connected to real IKEv2 peers,
# driven through the CLI and the REST API as a user drives it. See
# docs/benchmarks.md ("Gateway operations at scale").
#
#   vpngw serve (lab) ── gateway GW (VNet 10.1.0.0/16, two instances, agents)
#        │ emulated internet (lab inet namespace)
#   lab site "many": one strongSwan 5.9.8 (kernel-libipsec) with N public
#        addresses 192.0.2.(100+i) on its loopback (put on wan0 they were
#        removed again by the time the tunnels came up; wan0 answers ARP
#        for loopback addresses) and a /32 route for each in the internet
#        router; N connections, i's local_ts 10.200.i.0/24
#
# Local network gateways site0..site(N-1) (192.0.2.(100+i), 10.200.i.0/24);
# connections conn0..conn(N-2) are created first and waited for until
# Connected; then each repeat (`vpngw-bench gwops`) creates conn(N-1) with
# the CLI (the gateway is then at N), polls until Connected, times
# `vpngw network vpn-connection list` and the REST GET list LISTS times,
# and deletes it.
#
# Env: GWOPS=100 (N, 2..100); REPEATS=7; LISTS=5; VPNGW_BIN; RESULTS;
# VPNGW_BEFORE=path: also time every list with this vpngw binary (the CLI
# before a change), alternating with VPNGW_BIN, same run and server.
# Output: the table (stdout and $RESULTS/gwops.md), gwops.jsonl, the
# server's and charon's logs. Needs root; everything it starts is stopped
# by PID and the lab removed (vpngw lab down) on exit, Ctrl-C and errors.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin

N=${GWOPS:-100}
REPEATS=${REPEATS:-7}
LISTS=${LISTS:-5}
VPNGW_BIN=${VPNGW_BIN:-$ROOT/bin/vpngw}
VPNGW_BEFORE=${VPNGW_BEFORE:-}
BENCH=$ROOT/bin/vpngw-bench
STAMP=$(date +%Y%m%d-%H%M%S)
VCS=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
RESULTS=${RESULTS:-$ROOT/bench-results/gwops-$STAMP}
CHARON=/usr/lib/ipsec/charon
RG=ScaleRG GW=ScaleGW

ID=vgwo$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
DIR=/run/$ID
LOGS=$RESULTS/logs
CONF=$RESULTS/conf # not under $DIR: charon's /run is $DIR/site/run
export VPNGW_LAB_PREFIX=$ID VPNGW_CONFIG_DIR=$DIR/cli VPNGW_CA_FILE=$DIR/data/tls/ca.crt

BENCH_NAME=bench-gwops
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
vpngw() { "$VPNGW_BIN" "$@"; }

SERVE_PID= EXEC_PID=
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	set +e
	if [ -s "$DIR/site/run/charon.pid" ]; then
		p=$(cat "$DIR/site/run/charon.pid")
		kill -TERM "$p" 2>/dev/null
		for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	fi
	[ -n "$EXEC_PID" ] && { kill -KILL "$EXEC_PID" 2>/dev/null; wait "$EXEC_PID" 2>/dev/null; }
	[ -f "$DIR/site/run/charon.log" ] && cp "$DIR/site/run/charon.log" "$LOGS/charon.log"
	if [ -n "$SERVE_PID" ]; then
		kill -TERM "$SERVE_PID" 2>/dev/null
		for _ in $(seq 1 100); do alive "$SERVE_PID" || break; sleep 0.1; done
		kill -KILL "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
	fi
	vpngw lab down --local --data-dir "$DIR/data" >"$LOGS/lab-down.log" 2>&1
	cp "$DIR/serve.log" "$LOGS/" 2>/dev/null
	rm -rf "$DIR"
	exit "$rc"
}

[ "$(id -u)" = 0 ] || die "run as root (the lab provider)"
[ -x "$VPNGW_BIN" ] || die "$VPNGW_BIN is missing (make build)"
[ -x "$CHARON" ] || die "$CHARON is missing (strongswan-charon)"
[ -z "$VPNGW_BEFORE" ] || [ -x "$VPNGW_BEFORE" ] || die "VPNGW_BEFORE=$VPNGW_BEFORE is not an executable"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 2 ] && [ "$N" -le 100 ] || die "GWOPS must be 2..100 (VpnGw5 takes 100 site-to-site connections)"
go build -o "$BENCH" ./bench/cmd/vpngw-bench
mkdir -p "$RESULTS" "$LOGS" "$CONF" "$DIR/site/run" "$DIR/cli"
trap cleanup EXIT
trap 'echo "bench-gwops: interrupted" >&2; exit 130' INT TERM

log "bench-gwops $ID: $N connections on one VpnGw5 gateway, $REPEATS repeats; results in $RESULTS"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
"$VPNGW_BIN" serve --provider lab --lab-prefix "$ID" --data-dir "$DIR/data" \
	--listen 127.0.0.1:0 --listen-file "$DIR/listen" >"$DIR/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 200); do [ -s "$DIR/listen" ] && break; sleep 0.05; done
[ -s "$DIR/listen" ] || die "vpngw serve did not start: $(tail -3 "$DIR/serve.log")"
export VPNGW_URL=https://$(cat "$DIR/listen")
CRED=$DIR/data/identity/admin-credential.json
vpngw login --credential-file "$CRED" >/dev/null

# The gateway.
vpngw group create -n "$RG" -l eastus -o none
vpngw network vnet create -g "$RG" -n ScaleVNet --address-prefixes 10.1.0.0/16 \
	--subnet-name FrontEnd --subnet-prefixes 10.1.0.0/24 -o none
vpngw network vnet subnet create -g "$RG" --vnet-name ScaleVNet -n GatewaySubnet --address-prefixes 10.1.255.0/27 -o none
vpngw network public-ip create -g "$RG" -n ScaleGWIP --sku Standard --allocation-method Static -o none
vpngw network vnet-gateway create -g "$RG" -n "$GW" --vnet ScaleVNet --public-ip-addresses ScaleGWIP \
	--gateway-type Vpn --vpn-type RouteBased --sku VpnGw5 --vpn-gateway-generation Generation2 -o none
GWIP=$(vpngw network public-ip show -g "$RG" -n ScaleGWIP --query ipAddress -o tsv)
log "gateway $GW up at $GWIP"

# The site: one device with N public addresses and one strongSwan.
vpngw lab site create -n many --public-ip 192.0.2.10 --address-prefixes 10.200.0.0/16 -o none
LEG=$(vpngw lab exec inet -- ip -o route get 192.0.2.10 | sed -n 's/.* dev \([^ ]*\).*/\1/p')
[ -n "$LEG" ] || die "no route to the site in the lab's internet"
: >"$CONF/site.batch"
: >"$CONF/inet.batch"
for i in $(seq 0 $((N - 1))); do
	echo "addr add 192.0.2.$((100 + i))/32 dev lo" >>"$CONF/site.batch"
	echo "addr add 10.200.$i.1/32 dev lo" >>"$CONF/site.batch"
	echo "route add 192.0.2.$((100 + i))/32 dev $LEG" >>"$CONF/inet.batch"
done
vpngw lab exec site/many -- ip -batch "$CONF/site.batch"
vpngw lab exec inet -- ip -batch "$CONF/inet.batch"
cat >"$CONF/strongswan.conf" <<EOF
# generated by scripts/bench-gwops.sh
charon {
	load_modular = no
	load = random nonce openssl aes aesni gcm sha1 sha2 hmac kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici
	install_routes = yes
	threads = 16
	filelog { charon { path = /run/charon.log
		default = 0 } }
	plugins { vici { socket = unix:///run/charon.vici } }
}
EOF
{
	echo "connections {"
	for i in $(seq 0 $((N - 1))); do
		# Azure's default IKE proposal (AES256/SHA1/DH2), GCM for ESP; the
		# gateway initiates (its connections are Default mode).
		cat <<EOF
	c$i { version = 2
		local_addrs = 192.0.2.$((100 + i))
		remote_addrs = $GWIP
		encap = yes
		proposals = aes256-sha1-modp1024
		local { auth = psk
			id = 192.0.2.$((100 + i)) }
		remote { auth = psk
			id = $GWIP }
		children { net { local_ts = 10.200.$i.0/24
			remote_ts = 10.1.0.0/16
			esp_proposals = aes256gcm16 } } }
EOF
	done
	echo "}"
	echo "secrets {"
	for i in $(seq 0 $((N - 1))); do
		printf '\tike-c%d { id-a = 192.0.2.%d\n\t\tid-b = %s\n\t\tsecret = "Scale%dKey0123" }\n' "$i" $((100 + i)) "$GWIP" "$i"
	done
	echo "}"
} >"$CONF/swanctl.conf"
vpngw lab exec site/many -- sh -c "mount --bind '$DIR/site/run' /run && exec env STRONGSWAN_CONF='$CONF/strongswan.conf' $CHARON" \
	>"$LOGS/charon.out" 2>&1 &
EXEC_PID=$!
for _ in $(seq 1 100); do [ -S "$DIR/site/run/charon.vici" ] && break; sleep 0.05; done
timeout 120 swanctl --load-all --noprompt --uri "unix://$DIR/site/run/charon.vici" --file "$CONF/swanctl.conf" >"$LOGS/swanctl.log" 2>&1 ||
	die "swanctl --load-all failed: $(tail -3 "$LOGS/swanctl.log")"

# N local network gateways, N-1 connections.
t0=$(date +%s)
for i in $(seq 0 $((N - 1))); do
	vpngw network local-gateway create -g "$RG" -n "site$i" --gateway-ip-address "192.0.2.$((100 + i))" \
		--local-address-prefixes "10.200.$i.0/24" -o none
done
for i in $(seq 0 $((N - 2))); do
	vpngw network vpn-connection create -g "$RG" -n "conn$i" --vnet-gateway1 "$GW" --local-gateway2 "site$i" \
		--shared-key "Scale${i}Key0123" -o none
done
log "$N local network gateways and $((N - 1)) connections created in $(($(date +%s) - t0)) s"
up=0
for _ in $(seq 1 240); do
	up=$(vpngw network vpn-connection list -g "$RG" --query "[].connectionStatus" -o tsv | grep -c '^Connected$' || true)
	[ "$up" -ge $((N - 1)) ] && break
	sleep 0.5
done
[ "$up" -ge $((N - 1)) ] || die "only $up of $((N - 1)) connections Connected"
log "$up connections Connected"

"$BENCH" gwops -out "$RESULTS" -repeats "$REPEATS" -lists "$LISTS" -bin "$VPNGW_BIN" -credential "$CRED" \
	-g "$RG" -gateway "$GW" -conn "conn$((N - 1))" -site "site$((N - 1))" -shared-key "Scale$((N - 1))Key0123" \
	${VPNGW_BEFORE:+-before "$VPNGW_BEFORE"} || status=1
echo
{
	echo "vpngw $VPNGW_BIN (tree at $VCS when the run started)${VPNGW_BEFORE:+, before: $VPNGW_BEFORE}, $N connections on one VpnGw5 gateway (lab), $REPEATS repeats x $LISTS lists, $(date -Is)"
	echo
	"$BENCH" gwops-report -dir "$RESULTS"
} | tee "$RESULTS/gwops.md"
exit "${status:-0}"
