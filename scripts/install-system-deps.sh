#!/usr/bin/env bash
# Install the Debian packages the tests and the demo need, only those missing (idempotent).
#   podman, runc, debootstrap  - molecule's systemd hosts (see containers/containers.conf)
#   dnsmasq-base, nftables     - the dns and firewall roles validate with them
#   chromium                   - the dashboard test (headless)
#   prometheus                 - promtool, to check and unit-test the alert rules
set -euo pipefail
want=(podman runc debootstrap dnsmasq-base nftables chromium prometheus uidmap slirp4netns fuse-overlayfs iproute2 procps)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
