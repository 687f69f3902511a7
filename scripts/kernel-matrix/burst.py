#!/usr/bin/env python3
"""A burst of TCP SYNs from one interface, one sender process pinned to each CPU, until SIGTERM
or SIGINT (the kernel matrix's load for the `ring-m1` seed fault: scripts/kernel-matrix/guest.sh).

    burst.py DEV SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT OUT.json

Run it inside the sender's namespace (`ip netns exec NS burst.py ...`). Frames are 64 bytes
(60 on the wire before the FCS), with correct IPv4 and TCP checksums, over 256 source ports (as
the bench's generator: tests/integration/ring_overflow.rs), sent with AF_PACKET and
PACKET_QDISC_BYPASS. Creates OUT.json.ready once the senders run; writes {"cpus": N, "sent": FRAMES, "errors": {ERRNO: COUNT}} to OUT.json
when stopped. Standard library only: it runs in the guests, which see the host's python3.
"""

import json
import os
import signal
import socket
import struct
import sys

SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    f = dst_mac + src_mac + b"\x08\x00" + ip + tcp
    return f + b"\0" * (60 - len(f))


def sender(cpu, dev, frames, pipe_w):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    os.sched_setaffinity(0, {cpu})
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    except OSError:
        pass
    s.bind((dev, 0))
    sent, errors, i, n = 0, {}, cpu, len(frames)
    send = s.send
    while not stop:
        try:
            send(frames[i % n])
            sent += 1
        except OSError as e:
            errors[e.errno] = errors.get(e.errno, 0) + 1
        i += 1
    os.write(pipe_w, (json.dumps({"sent": sent, "errors": errors}) + "\n").encode())
    os._exit(0)


def main():
    dev, src_mac, dst_mac, src_ip, dst_ip, dport, out = sys.argv[1:8]
    mac = lambda m: bytes.fromhex(m.replace(":", ""))
    frames = [frame(mac(src_mac), mac(dst_mac), socket.inet_aton(src_ip), socket.inet_aton(dst_ip),
                    40000 + p, int(dport)) for p in range(256)]
    cpus = sorted(os.sched_getaffinity(0))
    r, w = os.pipe()
    kids = []
    # A stop that comes while the senders start waits until each has its handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    for cpu in cpus:
        pid = os.fork()
        if pid == 0:
            os.close(r)
            sender(cpu, dev, frames, w)
        kids.append(pid)
    os.close(w)
    forward = lambda sig, _: [os.kill(k, sig) for k in kids]
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    # Sending: the caller waits for this (python starts in seconds under emulation).
    open(out + ".ready", "w").close()
    for k in kids:
        while True:
            try:
                os.waitpid(k, 0)
                break
            except InterruptedError:
                continue
    total = {"cpus": len(cpus), "sent": 0, "errors": {}}
    with os.fdopen(r) as f:
        for line in f:
            v = json.loads(line)
            total["sent"] += v["sent"]
            for e, c in v["errors"].items():
                total["errors"][e] = total["errors"].get(e, 0) + c
    with open(out, "w") as f:
        json.dump(total, f)
        f.write("\n")


if __name__ == "__main__":
    main()
