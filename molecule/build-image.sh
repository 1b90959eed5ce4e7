#!/usr/bin/env bash
# Build the drill image localhost/promptlib-drill from Debian's packages:
# debootstrap into a folder, install the stack inside it, then `podman import`.
#
# The image carries systemd as PID 1, PostgreSQL 15, nginx, Node.js 18 and pm2,
# plus the `pg` client library the reference application needs, so drills never
# reach a registry once the image exists. It also carries an OpenSSH server, so
# a drill can reach the container over SSH as production runs do. The image has
# no host keys and no authorized key: each container generates its host keys
# when sshd first starts, and the drill installs a key of its own.
#
# The image is labelled with a hash of this script and the files it reads. An
# image whose label matches is reused; any change to those inputs rebuilds it.
# Set PROMPTLIB_DRILL_REBUILD=1 to rebuild regardless.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${PROMPTLIB_DRILL_IMAGE:-localhost/promptlib-drill:latest}
suite=${PROMPTLIB_DRILL_SUITE:-bookworm}
mirror=${PROMPTLIB_DRILL_MIRROR:-http://deb.debian.org/debian}
pm2_version=${PROMPTLIB_DRILL_PM2:-7}
pg_client_version=${PROMPTLIB_DRILL_NODE_PG:-8}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

packages=(
  systemd systemd-sysv dbus
  postgresql postgresql-client
  nginx
  nodejs npm
  python3 python3-apt
  ca-certificates curl procps iproute2 less sudo
  openssh-server
)

inputs_hash=$(
  {
    cat "$0"
    printf '%s\n' "$suite" "$mirror" "$pm2_version" "$pg_client_version" "${packages[@]}"
  } | sha256sum | cut -c1-16
)

current=$(podman image inspect --format '{{ index .Labels "promptlib.drill.inputs" }}' "$image" 2>/dev/null || true)
if [[ "$current" == "$inputs_hash" && "${PROMPTLIB_DRILL_REBUILD:-0}" != 1 ]]; then
  echo "Drill image $image is current (inputs $inputs_hash); reusing it."
  exit 0
fi

echo "Building drill image $image (inputs $inputs_hash)..."
workdir=$(mktemp -d /var/tmp/promptlib-drill.XXXXXX)
rootfs=$workdir/rootfs

cleanup() {
  for mount_point in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts" "$rootfs/dev"; do
    if mountpoint -q "$mount_point" 2>/dev/null; then
      umount -l "$mount_point" || true
    fi
  done
  rm -rf "$workdir"
}
trap cleanup EXIT

# Passing nodejs and npm to --include fails while npm is configured, so the
# bootstrap stays minimal and everything else is installed inside the chroot.
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror"

# Package clients in the image must trust the same certificate authorities as
# the host, or npm fails with a self-signed-certificate error.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
fi
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"

mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"

in_root() {
  chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# Keep package scripts from starting services inside the build chroot.
exit 101
EOF
chmod +x "$rootfs/usr/sbin/policy-rc.d"

in_root apt-get update -q
in_root apt-get install -y -q --no-install-recommends "${packages[@]}"
in_root update-ca-certificates
in_root npm config set --global cafile /etc/ssl/certs/ca-certificates.crt
in_root npm install --global --no-audit --no-fund "pm2@$pm2_version"
in_root mkdir -p /usr/local/lib/promptlib-drill
in_root npm install --prefix /usr/local/lib/promptlib-drill --no-audit --no-fund --omit=dev "pg@$pg_client_version"

rm -f "$rootfs/usr/sbin/policy-rc.d"

# Trim what a container does not need at boot: consoles, the first-boot wizard
# and units that fail without real hardware.
in_root systemctl mask getty@tty1.service console-getty.service systemd-firstboot.service \
  systemd-udevd.service systemd-udev-trigger.service systemd-resolved.service >/dev/null 2>&1 || true
in_root systemctl enable postgresql nginx >/dev/null
rm -f "$rootfs/etc/nginx/sites-enabled/default"

# Host keys made here would be shared by every container of the image, so they
# are removed and sshd generates a set per container before its first start.
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
in_root systemctl enable ssh >/dev/null
echo promptlib-drill >"$rootfs/etc/hostname"
: >"$rootfs/etc/machine-id"
in_root apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/root/.npm

for mount_point in "$rootfs/dev/pts" "$rootfs/dev" "$rootfs/sys" "$rootfs/proc"; do
  umount "$mount_point"
done

tar --numeric-owner -C "$rootfs" -c . |
  podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL promptlib.drill.inputs=$inputs_hash" \
    - "$image" >/dev/null

echo "Built drill image $image (inputs $inputs_hash)."
