#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it, from a bare Debian machine:
#   1. installs what it needs (Chromium for the browser test, the npm test client, nginx,
#      nats-server, postgresql, mosquitto),
#   2. the gate: cargo fmt --check, cargo clippy -D warnings on every target,
#   3. every Rust test (unit, integration against the real server, doc tests),
#   4. WebSocket conformance with the Autobahn|Testsuite (scripts/autobahn.sh),
#   5. the dashboard in real headless Chromium against a real sdrhub on 127.0.0.1, which the
#      test starts, kills, restarts and finally stops with SIGTERM (expecting exit code 0).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v npm >/dev/null || missing="$missing npm"
# SoapySDR (build with --features soapy) and the Red Pitaya driver the hardware tests stream through.
command -v pkg-config >/dev/null || missing="$missing pkg-config"
[ -f /usr/include/SoapySDR/Device.h ] || missing="$missing libsoapysdr-dev"
dpkg -s soapysdr-module-redpitaya >/dev/null 2>&1 || missing="$missing soapysdr-module-redpitaya"
# The deployment's nginx configuration runs in front of a real sdrhub (tests/nginx.rs,
# tests/deploy.rs start it themselves on loopback); openssl makes the TLS test's certificate.
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v openssl >/dev/null || missing="$missing openssl"
# The bus tests (tests/nats.rs) run a real NATS JetStream server on loopback.
[ -x /usr/sbin/nats-server ] || missing="$missing nats-server"
# The history tests (tests/history_store.rs) run a real PostgreSQL server on loopback.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
# The alert MQTT test (tests/alerts_mqtt.rs) runs a real mosquitto broker on loopback.
[ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
if [ -n "$missing" ]; then
  say "installing$missing (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
if ! python3 -c 'import sigmf' 2>/dev/null; then
  # The official SigMF validator, which tests/recording.rs runs on `sdrhub record`'s output.
  say "installing the python sigmf package (pip)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-pip >/dev/null
  fi
  # Debian's own python refuses system-wide installs unless told (PEP 668).
  python3 -m pip install --quiet sigmf 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages sigmf
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  say "installing the browser test client (npm ci)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

say "cargo test --workspace --all-features"
cargo test --workspace --all-features

say "WebSocket conformance: Autobahn|Testsuite fuzzing client, sections 1-10"
# The transport under /ws, behind an echo endpoint (examples/ws_echo.rs); installs the suite
# for Python 2.7 (pyenv) when absent. Fails on any FAILED case or unclean close.
scripts/autobahn.sh

say "dashboard in headless Chromium"
# The test starts sdrhub itself on a free loopback port (it kills and restarts it, and checks
# that SIGTERM ends it with exit code 0). `cargo test` above built the binary.
bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/sdrhub"
(cd tests/browser && SDRHUB_BIN="$bin" npm test)

say "all tests passed"
