#!/usr/bin/env bash
# The app as a person sees it: runs the real binary on the demo source under Xvfb with
# software OpenGL, waits, screenshots the screen (the window fills it) to
# assets/screenshot.png and stops the app. Needs `scripts/setup.sh --with-screenshot`.
#
# Usage: scripts/screenshot.sh [tinyssd options...]
#   e.g. scripts/screenshot.sh --model tests/golden/weights.safetensors
# Environment: SCREENSHOT_OUT (default assets/screenshot.png), SCREENSHOT_WAIT (seconds,
# default 4), SCREENSHOT_LOG (the app's log, default target/screenshot.log),
# SCREENSHOT_SOURCE (default demo; empty: the app's default start).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${SCREENSHOT_OUT:-assets/screenshot.png}
wait_s=${SCREENSHOT_WAIT:-4}
log=${SCREENSHOT_LOG:-target/screenshot.log}
source_args=(--source "${SCREENSHOT_SOURCE-demo}")
[[ -z "${SCREENSHOT_SOURCE-demo}" ]] && source_args=()
size=1120x720 # the window's default size, so the screen is the window
display=:${SCREENSHOT_DISPLAY:-99}

source scripts/xvfb.sh
start_screen screenshot "$display" "$size" import

mkdir -p "$(dirname "$out")" "$(dirname "$log")"
DISPLAY=$display LIBGL_ALWAYS_SOFTWARE=1 RUST_LOG=${RUST_LOG:-tinyssd=info} \
  target/release/tinyssd "${source_args[@]}" --no-persist "$@" >"$log" 2>&1 &
app_pid=$!
sleep "$wait_s"
if ! kill -0 "$app_pid" 2>/dev/null; then
  echo "screenshot: the app exited early; its log:" >&2
  cat "$log" >&2
  exit 1
fi
# 256 colours without dithering: a third of the size, no visible loss for the README.
DISPLAY=$display import -window root -strip -dither None -colors 256 "PNG8:$out"
# Close it as a user would: SIGTERM closes the app as Quit does (threads joined, settings saved).
kill "$app_pid"
wait "$app_pid" 2>/dev/null || true
app_pid=""
echo "screenshot: wrote $out ($(du -h "$out" | cut -f1)); app log in $log"
