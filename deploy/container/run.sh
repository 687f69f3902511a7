#!/usr/bin/env bash
# The `docker run` line that lets xdpdoctor's image diagnose the host it runs on
# (docs/fleet.md, "In a container"):
#   --network host --pid host   the host's network namespace is the one checked, and the
#                               host's processes lead to the containers' namespaces
#                               (/proc/PID/ns/net) and name them (docker:NAME);
#   --privileged                BPF programs and tracepoints, setns, netlink, ethtool ioctls
#                               (docs/fleet.md lists the capabilities behind it);
#   /sys/fs/bpf                 bpffs: the forwarder's pins (status, counters);
#   /run/netns                  namespaces named by `ip netns` (and labs);
#   /run/xdpdoctor              xdpdoctor's state: deploy records, fix journals, labs;
#   /var/run/docker.sock        the runtime's socket, for container names;
#   TEXTFILE_DIR -> /textfile   node_exporter's textfile directory (the image's default
#                               command writes /textfile/xdpdoctor.prom).
#
#   [XDPDOCTOR_IMAGE=xdpdoctor:0.1.0] [TEXTFILE_DIR=/var/lib/prometheus/node-exporter] \
#   [XDPDOCTOR_CONTAINER=xdpdoctor-check] deploy/container/run.sh [XDPDOCTOR ARGS...]
#
# Without arguments the image runs its default command (the timer's check).
set -euo pipefail
image=${XDPDOCTOR_IMAGE:-xdpdoctor:0.1.0}
textfile=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
mkdir -p /run/netns /run/xdpdoctor "$textfile"
socket=()
[ -S /var/run/docker.sock ] && socket=(-v /var/run/docker.sock:/var/run/docker.sock)
exec docker run --rm --name "${XDPDOCTOR_CONTAINER:-xdpdoctor-check}" \
  --network host --pid host --privileged \
  -v /sys/fs/bpf:/sys/fs/bpf \
  -v /run/netns:/run/netns \
  -v /run/xdpdoctor:/run/xdpdoctor \
  "${socket[@]}" \
  -v "$textfile":/textfile \
  "$image" "$@"
