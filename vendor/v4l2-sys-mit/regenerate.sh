#!/usr/bin/env bash
# Regenerates src/bindings/{x86_64,aarch64}.rs: the V4L2 bindings that upstream
# v4l2-sys-mit 0.3.0's build script makes at build time (bindgen 0.65.1, default options,
# header wrapper.h), made here once per architecture. Run it on Debian/Ubuntu x86_64 with:
#   cargo install bindgen-cli --version 0.65.1 --locked     # the bindgen upstream uses
#   apt install libclang-dev linux-libc-dev libc6-dev \
#               linux-libc-dev-arm64-cross libc6-dev-arm64-cross
# The aarch64 file is made from the same kernel and glibc headers as the x86_64 one
# (/usr/include), with the arm64 architecture-specific ones (asm/, bits/, gnu/, sys/) from
# the cross packages, searched after /usr/include: what Debian's multiarch arm64 headers
# give. Any other architecture: add its --target and cross headers the same way, and its
# include! in src/lib.rs.
set -euo pipefail
cd "$(dirname "$0")"

bindgen_version=$(bindgen --version)
[[ "$bindgen_version" == "bindgen 0.65.1" ]] || {
  echo "regenerate.sh: wants bindgen 0.65.1 (upstream's), found: $bindgen_version" >&2
  exit 1
}
[[ -d /usr/aarch64-linux-gnu/include/asm ]] || {
  echo "regenerate.sh: no arm64 headers (apt install linux-libc-dev-arm64-cross libc6-dev-arm64-cross)" >&2
  exit 1
}

bindgen wrapper.h -o src/bindings/x86_64.rs -- --target=x86_64-unknown-linux-gnu
bindgen wrapper.h -o src/bindings/aarch64.rs -- --target=aarch64-unknown-linux-gnu \
  -idirafter /usr/aarch64-linux-gnu/include
echo "regenerate.sh: wrote src/bindings/x86_64.rs and src/bindings/aarch64.rs"
