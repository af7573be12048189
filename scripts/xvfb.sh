# Sourced by the scripts that run the app on a virtual screen (screenshot.sh,
# app_threads.sh): `start_screen NAME DISPLAY WIDTHxHEIGHT [TOOL...]` checks the tools,
# builds the app, starts Xvfb and arranges that it and the app in `app_pid` (set it
# when starting one) are stopped when the script exits.

start_screen() {
  local name=$1 display=$2 size=$3
  shift 3
  local tool
  for tool in Xvfb "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is missing; run scripts/setup.sh --with-screenshot" >&2; exit 2; }
  done
  cargo build --release --quiet
  Xvfb "$display" -screen 0 "${size}x24" -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  app_pid=""
  trap stop_screen EXIT
  trap "exit 143" INT TERM # so that EXIT runs on a signal too
  sleep 1
}

stop_screen() {
  [[ -n "$app_pid" ]] && kill "$app_pid" 2>/dev/null || true
  kill "$xvfb_pid" 2>/dev/null || true
}
