#!/usr/bin/env bash
# Installs the system packages that building, testing and running tinyssd need on Debian.
#   libclang-dev, pkg-config: nokhwa's V4L2 backend runs bindgen at build time.
#   ffmpeg:                   plays `--source video:FILE` (and makes the video tests' clip).
#   gcc, linux-libc-dev:      build the fake V4L2 camera the camera tests run under (Linux).
#   xvfb, mesa, imagemagick:  only for `scripts/screenshot.sh` (the app seen under Xvfb).
# Usage: scripts/setup.sh [--with-screenshot]
set -euo pipefail

packages=(libclang-dev clang pkg-config ffmpeg gcc linux-libc-dev)
if [[ "${1:-}" == "--with-screenshot" ]]; then
  packages+=(xvfb libgl1-mesa-dri mesa-vulkan-drivers imagemagick x11-utils fonts-dejavu-core)
fi

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
