# Sourced by tests/harness/deps.sh (helpers: say, quiet, apt_need).
# What the sink's WebSocket and dashboard tests need:
#   chromium          Debian's browser, driven headless by playwright-core
#   node, npm         to run tests/browser/*.cjs (Debian's nodejs when absent)
#   playwright-core   pinned in tests/browser/package-lock.json, installed
#                     into tests/.cache/browser/node_modules (not the repo)
#   websockets        Python WebSocket client of tests/integration/test_sink_ws*.py
apt_need chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_need nodejs npm

browser_cache=tests/.cache/browser
if ! cmp -s tests/browser/package-lock.json "$browser_cache/package-lock.json" ||
   [ ! -f "$browser_cache/node_modules/playwright-core/package.json" ]; then
  say "installing playwright-core into $browser_cache"
  mkdir -p "$browser_cache"
  cp tests/browser/package.json tests/browser/package-lock.json "$browser_cache/"
  quiet npm ci --prefix "$browser_cache" --no-audit --no-fund --ignore-scripts
fi

if ! python3 -c 'import websockets' 2>/dev/null; then
  say "installing Python package: websockets"
  if ! python3 -m pip install -q --progress-bar off websockets >"$log" 2>&1 </dev/null; then
    if grep -q externally-managed-environment "$log"; then
      quiet python3 -m pip install -q --progress-bar off --break-system-packages websockets
    else
      say "FAILED: pip install websockets"
      tail -n 40 "$log" >&2
      exit 1
    fi
  fi
fi
