#!/usr/bin/env bash
# Builds xdpdoctor's container image offline (docs/fleet.md, "In a container"): a root
# filesystem holding the binary, exactly the shared libraries it links (as `ldd` lists them,
# the dynamic loader included) and Debian's statically linked busybox (a shell and `sleep` for
# the DaemonSet's loop), imported with `docker import`. No registry and no base image.
#
#   deploy/container/build-image.sh [BINARY [TAG]]
#     BINARY  default target/release/xdpdoctor (cargo build --release)
#     TAG     default xdpdoctor:VERSION (the binary's --version)
#
# The image's entry point is xdpdoctor; its default command is the timer's check into
# /textfile/xdpdoctor.prom (mount node_exporter's textfile directory there). Run it with
# deploy/container/run.sh. Needs: docker, ldd (libc-bin), busybox-static, and strip
# (binutils) to shrink a debug build (optional).
set -euo pipefail
bin=${1:-target/release/xdpdoctor}
[ -x "$bin" ] || { echo "build-image: $bin is not an executable (cargo build --release?)" >&2; exit 2; }
version=$("$bin" --version | awk '{print $2}')
tag=${2:-xdpdoctor:$version}
busybox=/bin/busybox
# ldd fails on a static binary: that is the one wanted (the image has no libc for busybox).
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "build-image: $busybox is missing or not static: apt-get install busybox-static" >&2
  exit 2
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/bin,bin,etc,tmp,run,proc,sys,dev,textfile,var/run}
chmod 1777 "$root/tmp"
install -m 0755 "$bin" "$root/usr/bin/xdpdoctor"
# A release build is already stripped (Cargo.toml's profile); a debug build shrinks tenfold.
strip "$root/usr/bin/xdpdoctor" 2>/dev/null || true

# Every library the binary links, at the path the loader looks for it.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
[ -n "$libs" ] || { echo "build-image: ldd listed no libraries for $bin" >&2; exit 2; }
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

install -m 0755 "$busybox" "$root/bin/busybox"
for applet in sh sleep cat ls; do ln -s busybox "$root/bin/$applet"; done
printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
  docker import \
    --change 'ENV PATH=/usr/bin:/bin' \
    --change 'ENTRYPOINT ["/usr/bin/xdpdoctor"]' \
    --change 'CMD ["check", "--observe", "5", "--timeout", "50", "--prometheus", "/textfile/xdpdoctor.prom"]' \
    --change "LABEL org.opencontainers.image.title=xdpdoctor org.opencontainers.image.version=$version" \
    - "$tag" >/dev/null
echo "build-image: $tag ($(du -sk "$root" | cut -f1) KiB: xdpdoctor $version and $(wc -w <<<"$libs") libraries)"
