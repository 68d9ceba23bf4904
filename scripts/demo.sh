#!/usr/bin/env bash
# demo.sh — the seed's topologies, built through the vpngw CLI as a tutorial.
#
#   scripts/demo.sh          build everything, prove traffic, show the table, run until Ctrl-C
#   scripts/demo.sh --check  the same once; exit 0 if every connection is up and traffic flows, else 1
#
# What it builds (all inside network namespaces on this host, "public"
# addresses from TEST-NET only):
#
#   Site1 (strongSwan) 192.0.2.10, 10.101.0.0/16 ─┐
#   Site2 (strongSwan) 192.0.2.20, 10.102.0.0/16 ─┼─ IPsec ─ VNet1GW ─ VNet1 10.1.0.0/16 (vm1)
#                                                 │             │
#                                                 │        Vnet2Vnet
#                                                 │             │
#                                                 └─────── VNet4GW ─ VNet4 10.41.0.0/16 (vm4)
#
# Site-to-Site (Site1), Multi-Site (Site1 + Site2 on one gateway) and
# VNet-to-VNet (VNet1 <-> VNet4, in another resource group) at once.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

BIN=${VPNGW_BIN:-$PWD/bin/vpngw}
if [ "$CHECK" = 1 ]; then
	# A private control plane and lab that cannot collide with a running demo.
	DEMO_DIR=$(mktemp -d /tmp/vpngw-demo-check.XXXXXX)
	PREFIX=vdemo$$
	LISTEN=127.0.0.1:0
else
	DEMO_DIR=${DEMO_DIR:-/tmp/vpngw-demo}
	PREFIX=${LAB_PREFIX:-vpngw-demo}
	LISTEN=${LISTEN:-127.0.0.1:8480}
	rm -rf "$DEMO_DIR"
	mkdir -p "$DEMO_DIR"
fi
export VPNGW_LAB_PREFIX=$PREFIX

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }
ms() { date +%s%3N; }
vpngw() { "$BIN" "$@"; }

SERVE_PID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	bold "Cleaning up"
	# Stop the control plane first (Ctrl-C reached it too), then remove the
	# lab from its recorded state: agents and daemons stopped by PID,
	# namespaces deleted.
	if [ -n "$SERVE_PID" ]; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	vpngw lab down --local --data-dir "$DEMO_DIR/data" >/dev/null 2>&1 || true
	[ "$CHECK" = 1 ] && rm -rf "$DEMO_DIR"
	say "lab namespaces removed, control plane stopped"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bold "1. Start the control plane with the lab provider"
say "vpngw serve --provider lab: every resource becomes network namespaces on this host"
"$BIN" serve --provider lab --lab-prefix "$PREFIX" --data-dir "$DEMO_DIR/data" \
	--listen "$LISTEN" --listen-file "$DEMO_DIR/listen" >"$DEMO_DIR/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 100); do [ -s "$DEMO_DIR/listen" ] && break; sleep 0.1; done
[ -s "$DEMO_DIR/listen" ] || { echo "vpngw serve did not start:"; tail "$DEMO_DIR/serve.log"; exit 1; }
export VPNGW_URL=https://$(cat "$DEMO_DIR/listen")
# The server made its own CA in its data directory; the CLI trusts it
# (as it does by itself for a server with the default data directory).
export VPNGW_CA_FILE=$DEMO_DIR/data/tls/ca.crt
say "API at $VPNGW_URL (log: $DEMO_DIR/serve.log; CA: $VPNGW_CA_FILE)"
# Every API request carries a token from the server's own issuer. On its
# first start the server wrote its administrator's credential (mode 0600);
# vpngw login signs in with it and caches the token (here in the demo's
# own CLI config directory).
export VPNGW_CONFIG_DIR=$DEMO_DIR/cli
vpngw login --credential-file "$DEMO_DIR/data/identity/admin-credential.json" >/dev/null
say "signed in: vpngw login --credential-file $DEMO_DIR/data/identity/admin-credential.json"

# vnet_with_gateway RG VNET SPACE (a /16): a VNet with a FrontEnd subnet and
# a GatewaySubnet, a public IP and a RouteBased VpnGw2 gateway.
vnet_with_gateway() {
	local rg=$1 vnet=$2 space=$3 base=${3%.0.0/16}
	vpngw group create -n "$rg" -l eastus -o none
	vpngw network vnet create -g "$rg" -n "$vnet" --address-prefixes "$space" \
		--subnet-name FrontEnd --subnet-prefixes "$base.0.0/24" -o none
	vpngw network vnet subnet create -g "$rg" --vnet-name "$vnet" -n GatewaySubnet \
		--address-prefixes "$base.255.0/27" -o none
	vpngw network public-ip create -g "$rg" -n "${vnet}GWIP" --sku Standard --allocation-method Static -o none
	local t0; t0=$(ms)
	vpngw network vnet-gateway create -g "$rg" -n "${vnet}GW" --vnet "$vnet" --public-ip-addresses "${vnet}GWIP" \
		--gateway-type Vpn --vpn-type RouteBased --sku VpnGw2 --vpn-gateway-generation Generation2 -o none
	say "$rg/${vnet}GW: create → Succeeded in $(($(ms) - t0)) ms (Azure: up to 45 minutes)"
}

bold "2. Virtual networks and VPN gateways (as in Azure's tutorials)"
vnet_with_gateway TestRG1 VNet1 10.1.0.0/16
vnet_with_gateway TestRG4 VNet4 10.41.0.0/16
GW1IP=$(vpngw network public-ip show -g TestRG1 -n VNet1GWIP --query ipAddress -o tsv)
say "VNet1GW's public IP: $GW1IP"
VM1=$(vpngw lab vm create -g TestRG1 --vnet VNet1 --subnet FrontEnd -n vm1 --query ipAddress -o tsv)
VM4=$(vpngw lab vm create -g TestRG4 --vnet VNet4 --subnet FrontEnd -n vm4 --query ipAddress -o tsv)
say "VMs: vm1 $VM1 (VNet1), vm4 $VM4 (VNet4)"

# site NAME PUBLIC_IP PREFIX KEY: an on-premises site running strongSwan
# toward VNet1GW, with its local network gateway and connection.
site() {
	local name=$1 pub=$2 prefix=$3 key=$4 dir="$DEMO_DIR/sites/$1"
	vpngw lab site create -n "$name" --public-ip "$pub" --address-prefixes "$prefix" -o none
	mkdir -p "$dir/run"
	cat >"$dir/strongswan.conf" <<EOF
charon {
	load_modular = no
	load = random nonce openssl aes aesni gcm sha1 sha2 hmac kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici
	install_routes = yes
	filelog { charon { path = /run/charon.log
		default = 1 } }
	plugins { vici { socket = unix:///run/charon.vici } }
}
EOF
	# Azure's default IKE proposal (AES256/SHA1/DH2) and GCM for ESP; the
	# device starts the tunnel itself (start_action = start).
	cat >"$dir/swanctl.conf" <<EOF
connections {
	azure {
		version = 2
		local_addrs = $pub
		remote_addrs = $GW1IP
		encap = yes
		proposals = aes256-sha1-modp1024
		local { auth = psk
			id = $pub }
		remote { auth = psk
			id = $GW1IP }
		children { net {
			local_ts = $prefix
			remote_ts = 10.1.0.0/16
			esp_proposals = aes256gcm16
			start_action = start
			dpd_action = restart } }
		dpd_delay = 10s
		keyingtries = 0
	}
}
secrets { ike-azure { id-a = $pub
	id-b = $GW1IP
	secret = "$key" } }
EOF
	vpngw lab exec "site/$name" -- sh -c "mount --bind '$dir/run' /run && exec env STRONGSWAN_CONF='$dir/strongswan.conf' /usr/lib/ipsec/charon" \
		>"$dir/charon.out" 2>&1 &
	for _ in $(seq 1 100); do [ -S "$dir/run/charon.vici" ] && break; sleep 0.05; done
	swanctl --load-all --uri "unix://$dir/run/charon.vici" --file "$dir/swanctl.conf" >/dev/null 2>&1
	vpngw network local-gateway create -g TestRG1 -n "$name" --gateway-ip-address "$pub" \
		--local-address-prefixes "$prefix" -o none
	local t0; t0=$(ms)
	vpngw network vpn-connection create -g TestRG1 -n "VNet1to$name" --vnet-gateway1 VNet1GW \
		--local-gateway2 "$name" --shared-key "$key" -o none
	wait_connected TestRG1 "VNet1to$name" "$t0"
}

# wait_connected RG CONNECTION START_MS: wait for connectionStatus Connected.
wait_connected() {
	local st
	for _ in $(seq 1 300); do
		st=$(vpngw network vpn-connection show -g "$1" -n "$2" --query connectionStatus -o tsv)
		if [ "$st" = Connected ]; then
			say "$1/$2: create → Connected in $(($(ms) - $3)) ms"
			return 0
		fi
		sleep 0.1
	done
	echo "connection $1/$2 did not connect (status $st)"
	return 1
}

bold "3. Site-to-Site and Multi-Site: two on-premises sites running strongSwan"
site Site1 192.0.2.10 10.101.0.0/16 Site1Key0123
site Site2 192.0.2.20 10.102.0.0/16 Site2Key4567

bold "4. VNet-to-VNet: VNet1 <-> VNet4 (a pair of Vnet2Vnet connections with one key)"
GW1ID=$(vpngw network vnet-gateway show -g TestRG1 -n VNet1GW --query id -o tsv)
GW4ID=$(vpngw network vnet-gateway show -g TestRG4 -n VNet4GW --query id -o tsv)
t0=$(ms)
vpngw network vpn-connection create -g TestRG1 -n VNet1toVNet4 --vnet-gateway1 "$GW1ID" --vnet-gateway2 "$GW4ID" \
	--shared-key VNetKey8910 -o none
vpngw network vpn-connection create -g TestRG4 -n VNet4toVNet1 --vnet-gateway1 "$GW4ID" --vnet-gateway2 "$GW1ID" \
	--shared-key VNetKey8910 -o none
wait_connected TestRG1 VNet1toVNet4 "$t0"
wait_connected TestRG4 VNet4toVNet1 "$t0"

bold "5. Traffic: ping from vm1 through the tunnels"
FAILED=0
probe() {
	local from=$1 to=$2 what=$3
	if vpngw lab exec "$from" -- ping -c 3 -i 0.2 -W 2 -q "$to" >/dev/null 2>&1; then
		say "OK    $what ($from → $to)"
	else
		say "FAIL  $what ($from → $to)"
		FAILED=1
	fi
}
probe vm/vm1 10.101.0.2 "Site-to-Site: VNet1 to Site1's host"
probe site/Site1/host "$VM1" "Site-to-Site: Site1's host to VNet1"
probe vm/vm1 10.102.0.2 "Multi-Site: VNet1 to Site2's host"
probe vm/vm1 "$VM4" "VNet-to-VNet: VNet1 to VNet4"
probe vm/vm4 "$VM1" "VNet-to-VNet: VNet4 to VNet1"

bold "6. Gateways and connections"
vpngw network vnet-gateway list -g TestRG1 -o table
vpngw network vnet-gateway list -g TestRG4 -o table
echo
vpngw network vpn-connection list -g TestRG1 -o table
vpngw network vpn-connection list -g TestRG4 -o table

if [ "$CHECK" = 1 ]; then
	if [ "$FAILED" = 0 ]; then bold "demo-check: OK"; exit 0; fi
	bold "demo-check: FAILED"; exit 1
fi

bold "Running. Try:"
say "export VPNGW_URL=$VPNGW_URL VPNGW_CA_FILE=$VPNGW_CA_FILE VPNGW_CONFIG_DIR=$VPNGW_CONFIG_DIR VPNGW_LAB_PREFIX=$PREFIX"
say "$BIN network vpn-connection show -g TestRG1 -n VNet1toSite1 -o table"
say "$BIN lab exec vm/vm1 -- ping 10.101.0.2"
say "$BIN network vnet-gateway reset -g TestRG1 -n VNet1GW"
say "Ctrl-C stops the demo and removes everything."
while true; do
	sleep 10
	printf '\n%s\n' "$(date +%T)"
	vpngw network vpn-connection list -g TestRG1 -o table
done
