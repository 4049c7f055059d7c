#!/usr/bin/env bash
# Build the podman image of molecule's systemd hosts once, with debootstrap; reuse it when present.
#
# No image can be pulled on these machines (DESIGN.md, "Test environment facts"), so the root
# filesystem comes from the Debian mirror apt already uses. The image carries every package the
# roles need (python3-venv for the daemons' venv, dnsmasq, nftables, nginx for the API fronts)
# so converge needs no apt.
# The image is tagged with a hash of this script: editing it (the package list) builds a new one.
#
#   molecule/image/build.sh            build if missing (or if this script changed)
#   molecule/image/build.sh --force    rebuild
set -euo pipefail

export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "$0")/../.." && pwd)/containers/containers.conf}"
IMAGE="${MODELFLEET_MOLECULE_IMAGE:-localhost/modelfleet-molecule:bookworm}"
SUITE=bookworm
PACKAGES=(
  systemd systemd-sysv dbus python3 python3-apt python3-venv sudo iproute2 procps
  ca-certificates dnsmasq nftables bind9-dnsutils nginx
)
SELF_HASH="$(sha256sum "$0" | cut -c1-16)"

# Every build is also tagged $IMAGE-<hash of this script>, the tag tests/ansible/test_molecule.py
# gives the scenarios (MODELFLEET_MOLECULE_HOST_IMAGE): checkouts with another version of this
# script retag the shared $IMAGE, never a scenario's image.
HASHED="$IMAGE-$SELF_HASH"
if [ "${1:-}" != "--force" ] && podman image exists "$HASHED"; then
  echo "image $HASHED is up to date"
  exit 0
fi
if [ "${1:-}" != "--force" ] && podman image exists "$IMAGE"; then
  have="$(podman image inspect --format '{{ index .Labels "modelfleet.build" }}' "$IMAGE" 2>/dev/null || true)"
  if [ "$have" = "$SELF_HASH" ]; then
    podman tag "$IMAGE" "$HASHED"
    echo "image $IMAGE is up to date (build $SELF_HASH)"
    exit 0
  fi
  echo "image $IMAGE was built by another version of this script: building $HASHED"
fi

# The mirror apt uses on this machine (deb822 first, then the one-line format).
MIRROR="${DEBIAN_MIRROR:-}"
if [ -z "$MIRROR" ]; then
  MIRROR="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
fi
if [ -z "$MIRROR" ]; then
  MIRROR="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 || true)"
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

WORK="$(mktemp -d /var/tmp/modelfleet-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
echo "debootstrap $SUITE from $MIRROR into $ROOTFS"
include="$(IFS=,; echo "${PACKAGES[*]}")"
debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 40 "$WORK/debootstrap.log" >&2
  exit 1
}

# A bare host: packages present, nothing of ours running. dnsmasq is started by the dns role
# only where it belongs; units that make no sense in a container are masked.
chroot "$ROOTFS" systemctl disable dnsmasq.service nftables.service nginx.service >/dev/null 2>&1 || true
for unit in systemd-resolved.service getty@tty1.service console-getty.service systemd-logind.service \
            systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  chroot "$ROOTFS" systemctl mask "$unit" >/dev/null 2>&1 || true
done
echo "modelfleet-molecule" >"$ROOTFS/etc/hostname"
: >"$ROOTFS/etc/machine-id"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

tar -C "$ROOTFS" -c . | podman import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL modelfleet.build=$SELF_HASH" \
  - "$HASHED" >/dev/null
podman tag "$HASHED" "$IMAGE"
echo "built $HASHED (also tagged $IMAGE)"
