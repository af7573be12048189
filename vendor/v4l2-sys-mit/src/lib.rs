//! Raw V4L2 bindings: upstream v4l2-sys-mit 0.3.0's `lib.rs`, with the bindings that its
//! build script made with bindgen at build time now generated once per architecture and
//! committed (`src/bindings/`), so no libclang is needed to build. How they were made and
//! how to make them again: README.md and regenerate.sh beside this crate's Cargo.toml.
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
