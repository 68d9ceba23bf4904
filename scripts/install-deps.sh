#!/usr/bin/env bash
# install-deps.sh — install the Debian packages vpngw's tests and benchmarks
# need, when they are missing. Runs apt-get only as root and only when something
# is missing; prints what it installs.
set -euo pipefail

# chromium-headless-shell (/usr/bin/chromium-headless-shell) is the browser the
# portal test drives with chromedp (internal/e2e/portal_test.go). freeradius is
# the real RADIUS server of internal/radius's tests (internal/tstest/radiustest).
# etcd-server (/usr/bin/etcd) is the real etcd that the etcd store's tests
# start on loopback (internal/tstest/etcdtest: the conformance suite in
# internal/store/etcdstore and TestServeEtcd in internal/server); Debian's
# package is 3.4, and the Go client (v3.7) is tested against it. The package
# also enables its own etcd.service (127.0.0.1:2379), which no test uses.
PKGS=(
	iproute2 nftables iputils-ping iperf3 procps openssl wireguard-tools
	strongswan-charon strongswan-swanctl
	libcharon-extra-plugins libcharon-extauth-plugins
	libstrongswan-standard-plugins libstrongswan-extra-plugins
	chromium-headless-shell
	freeradius
	etcd-server
	# internal/bgp interop tests (TestFRR*, TestBIRD*, TestTransit*): real BGP peers
	frr bird2
	# internal/e2e TestPointToSiteNetworkManager: the client package's
	# NetworkManager keyfile brought up by a real NetworkManager with
	# strongSwan's charon-nm (internal/tstest/nmtest runs them privately).
	# The host's own NetworkManager service is not started by this
	# install (see policy-rc.d below).
	network-manager strongswan-nm dbus
	# internal/e2e TestAzureCLI: Debian's az, unpatched, against vpngw serve
	azure-cli
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Packages must not start their services on a machine that runs systemd (a
# NetworkManager starting on the host could take over its interfaces): a
# policy-rc.d that refuses every start, for the length of the install,
# unless the machine has one of its own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
