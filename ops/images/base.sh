#!/usr/bin/env bash
# Builds the Debian base image of every MedForge image from Debian's package
# archive (mmdebstrap, a Debian package) and loads it with `docker import`:
# no registry is needed. The image is tagged medforge/base:<key>, where the
# key is a digest of the suite, the mirrors, the package list and this
# script; a second run with the same key reuses the image at once.
#
#   ops/images/base.sh            prints the image reference
#
# Settings: MEDFORGE_DEBIAN_SUITE (bookworm), MEDFORGE_DEBIAN_MIRROR
# (http://deb.debian.org/debian), MEDFORGE_DEBIAN_SECURITY
# (http://deb.debian.org/debian-security), MEDFORGE_BASE_EPOCH (any text;
# change it to take newer packages, e.g. security updates, under a new key).
set -euo pipefail
suite=${MEDFORGE_DEBIAN_SUITE:-bookworm}
mirror=${MEDFORGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${MEDFORGE_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
epoch=${MEDFORGE_BASE_EPOCH:-1}
packages=ca-certificates,tzdata,bash
key=$( { printf '%s\n' "$suite" "$mirror" "$security" "$epoch" "$packages"; cat "$0"; } | sha256sum | cut -c1-16)
ref=medforge/base:$key
if docker image inspect "$ref" >/dev/null 2>&1; then
  echo "$ref"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "base.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# minbase: essential packages and apt only. dpkg writes without fsync (an
# image build is redone, not repaired, after a crash); no recommends; no
# apt caches or man pages left in the layers.
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --dpkgopt=force-unsafe-io \
  --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --customize-hook='echo force-unsafe-io > "$1/etc/dpkg/dpkg.cfg.d/unsafe-io"' \
  --customize-hook='printf "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\n" > "$1/etc/apt/apt.conf.d/90medforge"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
  --format=tar "$suite" "$tmp/root.tar" \
  "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security $suite-security main" >&2
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --message "MedForge base: Debian $suite ($packages) from $mirror by mmdebstrap" \
  "$tmp/root.tar" "$ref" >/dev/null
echo "$ref"
