#!/usr/bin/env bash
# Installs the optional system packages on Debian/Ubuntu. Building needs none of them:
# Rust and a C compiler are enough (the V4L2 bindings are pre-generated in
# vendor/v4l2-sys-mit, so no libclang). Without them the tests that need them are skipped,
# each with a note saying what to install.
#   ffmpeg:                   plays `--source video:FILE` (and makes the video tests' clip).
#   gcc, linux-libc-dev:      build the fake V4L2 camera the camera tests run under (Linux).
#   mesa-vulkan-drivers,      Mesa's software Vulkan (lavapipe), which the window's PNG
#   libvulkan1:               snapshot tests (tests/ui_layout.rs) draw with through wgpu.
#   xvfb, mesa, imagemagick:  `scripts/screenshot.sh` and the tests that run the real app
#                             window under Xvfb (--with-screenshot).
#   MinGW and aarch64 gcc:    the Windows and aarch64 Linux checks CI runs (mozjpeg-sys's
#                             build script compiles C for the target) (--with-cross-checks).
#   aarch64 libc, qemu-user:  link the aarch64 engine tests and run them under emulation
#                             (--with-cross-checks).
# Usage: scripts/setup.sh [--with-screenshot] [--with-cross-checks]
set -euo pipefail

packages=(ffmpeg gcc linux-libc-dev mesa-vulkan-drivers libvulkan1)
for option in "$@"; do
  case "$option" in
    --with-screenshot)
      packages+=(xvfb libgl1-mesa-dri imagemagick x11-utils fonts-dejavu-core) ;;
    --with-cross-checks)
      packages+=(gcc-mingw-w64-x86-64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
    *) echo "setup: unknown option $option (see the top of $0)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: system packages present: ${packages[*]}"
