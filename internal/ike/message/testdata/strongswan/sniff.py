#!/usr/bin/env python3
"""sniff.py IFACE INITIATOR_IP OUTDIR

Capture IKE datagrams (UDP 500 and 4500, non-ESP marker stripped, NAT-T
keepalives and ESP-in-UDP skipped) seen on IFACE with an AF_PACKET socket and
write each one to OUTDIR/NN-i2r.hex or OUTDIR/NN-r2i.hex (direction relative to
INITIATOR_IP). Runs until SIGTERM/SIGINT. Used by capture.sh only.
"""
import os, signal, socket, struct, sys

iface, initiator, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(outdir, exist_ok=True)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
n = 0
while True:
    frame = s.recv(70000)
    if len(frame) < 14 + 20 or struct.unpack("!H", frame[12:14])[0] != 0x0800:
        continue
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 17:
        continue
    src = socket.inet_ntoa(ip[12:16])
    udp = ip[ihl:]
    sport, dport, ulen = struct.unpack("!HHH", udp[:6])
    data = udp[8:ulen]
    if 500 not in (sport, dport) and 4500 not in (sport, dport):
        continue
    if 4500 in (sport, dport):
        if len(data) == 1 and data[0] == 0xFF:
            continue  # NAT-T keepalive
        if len(data) < 4 or data[:4] != b"\0\0\0\0":
            continue  # ESP in UDP
        data = data[4:]
    n += 1
    d = "i2r" if src == initiator else "r2i"
    with open(os.path.join(outdir, "%02d-%s.hex" % (n, d)), "w") as f:
        for i in range(0, len(data), 32):
            f.write(data[i:i + 32].hex() + "\n")
