#!/usr/bin/env bash
# Installs what tsbootc's build, tests and demo need on a fresh Debian 12 machine
# with Node 20: Debian packages (only the missing ones) and the npm dependencies.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # composefs / EROFS / fs-verity tools used as peers and oracles in tests
  erofs-utils fsverity attr
  # block devices and filesystems (privileged tier, install)
  util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools mtools
  # systemd-boot EFI binary copied onto the ESP in tests (no bootctl: it lives in systemd-boot)
  systemd-boot-efi
  # images and registries (repository and lifecycle tests)
  skopeo umoci docker-registry apache2-utils
  # misc
  jq cpio zstd
  # VM tier: qemu TCG, UEFI firmware, and the test-image builder (busybox initramfs, depmod, objcopy for UKIs)
  qemu-system-x86 ovmf busybox-static kmod binutils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: not root; tests needing these Debian packages will be skipped: ${missing[*]}" >&2
  fi
fi

# VM tier: the test images take their kernel from linux-image-6.1.0-N-amd64 in the apt index
# (downloaded once into /var/cache/tsbootc-test-image); a fresh machine may have no index yet.
kernel_cache=${TSBOOTC_TEST_IMAGE_CACHE:-/var/cache/tsbootc-test-image}/debs
if [ "$(id -u)" -eq 0 ] && ! ls "$kernel_cache"/linux-image-6.1.0-*-amd64_*.deb >/dev/null 2>&1 &&
  ! apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | grep -q .; then
  echo "setup: apt-get update (no linux-image-6.1.0-*-amd64 in the apt index, needed by the VM tier)" >&2
  apt-get update -qq
fi

stamp=node_modules/.tsbootc-lock-sha256
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # Not `npm ci`: rust-just's optional platform packages other than linux-x64 are not in
  # the registry this machine reaches, so the lock cannot list them and `npm ci` refuses
  # (docs/decisions/0002-dependencies.md). `npm install` honours the lock as it is.
  echo "setup: npm install (from package-lock.json)" >&2
  npm install --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
