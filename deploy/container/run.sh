#!/usr/bin/env bash
# The `docker run` line that lets xdpdoctor's image diagnose the host it runs on
# (docs/fleet.md, "In a container"):
#   --network host --pid host   the host's network namespace is the one checked, and the
#                               host's processes lead to the containers' namespaces
#                               (/proc/PID/ns/net) and name them (docker:NAME);
#   --cap-add SYS_ADMIN         BPF programs and maps, tracepoints and perf events (CAP_BPF
#                               and CAP_PERFMON are in it; Docker 20.10 knows neither), setns,
#                               mounting bpffs/tracefs;
#   --cap-add NET_ADMIN         netlink and ethtool ioctls; NET_RAW: the captures;
#   --cap-add SYS_PTRACE        other users' processes' namespaces (/proc/PID/ns/net);
#   seccomp, apparmor unconfined  Docker's default profile filters bpf(2) and perf_event_open(2);
#                               (--privileged instead of the four also works where dockerd
#                               may grant every capability; it fails where the bounding set
#                               lacks one, as on this project's machines: CAP_SYS_RESOURCE)
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
  --network host --pid host \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_PTRACE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  -v /sys/fs/bpf:/sys/fs/bpf \
  -v /run/netns:/run/netns \
  -v /run/xdpdoctor:/run/xdpdoctor \
  "${socket[@]}" \
  -v "$textfile":/textfile \
  "$image" "$@"
