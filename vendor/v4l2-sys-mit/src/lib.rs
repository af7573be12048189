//! Raw V4L2 bindings: upstream v4l2-sys-mit 0.3.0's `lib.rs`, with the bindings that its
//! build script made with bindgen at build time now generated once per architecture and
//! committed (`src/bindings/`), so no libclang is needed to build.
//!
//! They were made by `regenerate.sh` (run it to make them again): bindgen-cli 0.65.1 with
//! its default options, as upstream's build script uses it, on `wrapper.h`
//! (`#include <linux/videodev2.h>`), on Debian 12 with libclang 14:
//! `bindgen wrapper.h -o src/bindings/x86_64.rs -- --target=x86_64-unknown-linux-gnu` and
//! `bindgen wrapper.h -o src/bindings/aarch64.rs -- --target=aarch64-unknown-linux-gnu
//! -idirafter /usr/aarch64-linux-gnu/include` (the arm64 headers of Debian's
//! linux-libc-dev-arm64-cross and libc6-dev-arm64-cross). README.md says more.
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]

#[cfg(target_arch = "x86_64")]
include!("bindings/x86_64.rs");

#[cfg(target_arch = "aarch64")]
include!("bindings/aarch64.rs");

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "v4l2-sys-mit (vendored by tinyssd) has V4L2 bindings for x86_64 and aarch64 only: \
     add this architecture's with vendor/v4l2-sys-mit/regenerate.sh"
);
