#!/usr/bin/env bash
# capture.sh - one-off capture of real strongSwan 5.9.8 IKEv2 exchanges for the
# tests of package message (see README.md). Needs root, strongSwan (charon,
# swanctl) and python3. Writes one directory per run next to this script:
#   <run>/NN-i2r.hex | NN-r2i.hex   each captured IKE datagram (hex, 32 bytes a line,
#                                   non-ESP marker stripped), in capture order
#   <run>/keys.txt                  the IKE SA keys charon logged (SK_ei, SK_er, SK_ai, SK_ar)
#   <run>/conf.txt                  the run's proposals and charon options
#
# Topology: namespace vmsg-cap-$$-a (charon "A", initiator, 192.0.2.1/24 on veth va)
#      <-> namespace vmsg-cap-$$-b (charon "B", responder, 192.0.2.2/24 on veth vb).
# sniff.py listens on va with an AF_PACKET socket. Each charon gets a private
# /run (bind mount inside "ip netns exec"), see /work/shared/notes/strongswan-interop.md.
# Everything is torn down by PID / by name of the namespaces created here.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=vmsg-cap-$$
NSA=$TAG-a NSB=$TAG-b
RUN=/run/$TAG
TMP=$(mktemp -d)
CHARON=/usr/lib/ipsec/charon
PIDS=()

cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for ns in a b; do
		[ -f "$RUN/$ns/charon.pid" ] && kill -TERM "$(cat "$RUN/$ns/charon.pid")" 2>/dev/null
	done
	sleep 1
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for ns in a b; do
		[ -f "$RUN/$ns/charon.pid" ] && kill -KILL "$(cat "$RUN/$ns/charon.pid")" 2>/dev/null
	done
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	rm -rf "$RUN" "$TMP"
}
trap cleanup EXIT

ip netns add "$NSA"
ip netns add "$NSB"
ip link add va netns "$NSA" type veth peer name vb netns "$NSB"
ip -n "$NSA" addr add 192.0.2.1/24 dev va
ip -n "$NSB" addr add 192.0.2.2/24 dev vb
ip -n "$NSA" addr add 10.1.0.1/32 dev lo
ip -n "$NSB" addr add 10.2.0.1/32 dev lo
for ns in "$NSA" "$NSB"; do
	ip -n "$ns" link set lo up
done
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up

# gen SIDE PROPOSALS FRAGSIZE VIPS
gen() {
	local side=$1 props=$2 frag=$3 vips=$4 me peer lts rts myid peerid
	if [ "$side" = a ]; then
		me=192.0.2.1 peer=192.0.2.2 lts=10.1.0.0/16 rts=10.2.0.0/16 myid=gw-a.example.net peerid=gw-b.example.net
	else
		me=192.0.2.2 peer=192.0.2.1 lts=10.2.0.0/16 rts=10.1.0.0/16 myid=gw-b.example.net peerid=gw-a.example.net
	fi
	local extra="" pools="" poolconf=""
	if [ -n "$vips" ]; then
		if [ "$side" = a ]; then extra="vips = $vips"; lts=dynamic
		else pools="pools = p"; rts=dynamic
			poolconf="pools { p { addrs = 10.3.0.0/24
				dns = 10.3.0.53 } }"
		fi
	fi
	mkdir -p "$TMP/$side" "$RUN/$side"
	cat >"$TMP/$side/strongswan.conf" <<EOC
charon {
	load_modular = no
	load = random nonce openssl aes aesni gcm sha1 sha2 hmac kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici attr
	install_routes = no
	fragment_size = $frag
	retransmit_tries = 2
	filelog {
		charon {
			path = /run/charon.log
			time_format = %T
			append = no
			default = 1
			ike = 4
			flush_line = yes
		}
	}
	plugins { vici { socket = unix:///run/charon.vici } }
}
EOC
	cat >"$TMP/$side/swanctl.conf" <<EOC
connections {
	s2s {
		version = 2
		local_addrs = $me
		remote_addrs = $peer
		encap = yes
		proposals = $props
		$extra
		$pools
		local { auth = psk
			id = $myid }
		remote { auth = psk
			id = $peerid }
		children { net {
			local_ts = $lts
			remote_ts = $rts
			esp_proposals = aes256gcm16,aes128-sha256
			start_action = none } }
	}
}
$poolconf
secrets { ike-s2s { id-a = gw-a.example.net
	id-b = gw-b.example.net
	secret = 0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL } }
EOC
}

start() {
	local side=$1 ns=$TAG-$1
	rm -f "$RUN/$side/charon.pid" "$RUN/$side/charon.vici"
	ip netns exec "$ns" sh -c "mount --bind '$RUN/$side' /run && exec env STRONGSWAN_CONF='$TMP/$side/strongswan.conf' $CHARON" \
		</dev/null >"$RUN/$side/stdout" 2>&1 &
	for _ in $(seq 1 100); do [ -S "$RUN/$side/charon.vici" ] && break; sleep 0.05; done
	swanctl --load-all --uri "unix://$RUN/$side/charon.vici" --file "$TMP/$side/swanctl.conf" >/dev/null 2>&1
}

stop() {
	local side=$1 pid
	pid=$(cat "$RUN/$side/charon.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

keys() { # LOG -> lines "SK_xx hex" from charon's "Sk_xx secret => N bytes" dumps
	python3 - "$1" <<'EOP'
import re, sys
out, cur, want = {}, None, 0
for line in open(sys.argv[1]):
    m = re.search(r"Sk_(\w+) secret => (\d+) bytes", line)
    if m:
        cur, want = "SK_" + m.group(1), int(m.group(2))
        out[cur] = ""
        continue
    m = re.search(r"^\S+ \S+\s+\d+: ((?:[0-9A-F]{2} ?)+)", line)
    if cur and m and len(out[cur]) < 2 * want:
        out[cur] += m.group(1).replace(" ", "").lower()[: 2 * want - len(out[cur])]
for k, v in out.items():
    print(k, v)
EOP
}

# run NAME PROPOSALS FRAGSIZE VIPS
run() {
	local name=$1 props=$2 frag=$3 vips=${4:-} out=$HERE/$1
	echo "== $name: $props fragment_size=$frag vips=${vips:-none}"
	rm -rf "$out"; mkdir -p "$out"
	gen a "$props" "$frag" "$vips"; gen b "$props" "$frag" "$vips"
	start b; start a
	ip netns exec "$NSA" python3 "$HERE/sniff.py" va 192.0.2.1 "$out" &
	local sniff=$!
	PIDS+=("$sniff")
	sleep 0.5
	swanctl --initiate --uri "unix://$RUN/a/charon.vici" --ike s2s --child net --timeout 10 >"$TMP/initiate.out" 2>&1 ||
		{ echo "initiate failed (messages still captured):"; tail -5 "$TMP/initiate.out"; }
	sleep 0.5
	swanctl --terminate --uri "unix://$RUN/a/charon.vici" --ike s2s --timeout 5 >/dev/null 2>&1 || true
	sleep 0.5
	kill -TERM "$sniff"; wait "$sniff" 2>/dev/null || true
	stop a; stop b
	keys "$RUN/a/charon.log" >"$out/keys.txt"
	printf 'proposals %s\nfragment_size %s\nvips %s\n' "$props" "$frag" "${vips:-none}" >"$out/conf.txt"
	cp "$RUN/a/charon.log" "$TMP/$name-a.log"; cp "$RUN/b/charon.log" "$TMP/$name-b.log"
	ls "$out"
}

run gcm 'aes256gcm16-prfsha256-ecp256' 1280
run cbc 'aes256-sha256-modp2048' 1280
run sha1 'aes128-sha1-modp1024' 1280
run frag 'aes128gcm16-prfsha384-curve25519,aes256-sha384-ecp384' 160
run cp 'aes256-sha256-ecp384,aes128gcm16-prfsha256-modp3072' 1280 0.0.0.0
[ -n "${KEEP_LOGS:-}" ] && cp "$TMP"/*.log "$KEEP_LOGS"/ || true
