#!/bin/bash
# Issue 15's A/B: the p99 of event delivery to 200 honest clients (50 events/s each) without and
# with 2 000 clients sending 20 `ping`s a second, for one or more release server builds, each
# on a fresh server. The swarm's generator runs at nice 19 (its CPU is another machine's in real
# life). Stop other work first: the numbers are only as quiet as the machine.
#
#   cargo build --release --bin sdrhub --example loadgen
#   scripts/ping-swarm-ab.sh target/release/sdrhub [other/sdrhub ...]
#
# Uses the configuration of docs/measurements.md#gateway-under-load, written to a temp file.
set -euo pipefail
LG=${LOADGEN:-target/release/examples/loadgen}
TOK=load-admin-token-0123456789
CONF=$(mktemp --suffix .toml)
trap 'rm -f "$CONF"' EXIT
cat >"$CONF" <<TOML
[server]
bind = "127.0.0.1:18090"
max_connections = 20000
max_connections_per_address = 20000
connects_per_address_per_s = 10000.0
connect_burst_per_address = 10000.0
[simulation]
sample_rate_hz = 8000.0
block_samples = 1024
receiver_count = 1
transmitters = []
[history]
enabled = false
[auth]
enabled = true
[[auth.tokens]]
name = "load"
token = "$TOK"
admin = true
TOML
fanout() {
  "$LG" fanout --server 127.0.0.1:18090 --clients 200 --rate 50 --seconds 20 --token $TOK --server-pid "$1" 2>&1 |
    grep -E 'p99|CPU' | sed 's/.*collected after the run)://' | tr '\n' ' '
}
for server in "$@"; do
  "$server" --config "$CONF" >/dev/null 2>&1 &
  sp=$!
  sleep 3
  echo "$server without: $(fanout $sp)"
  nice -n 19 "$LG" pingers --server 127.0.0.1:18090 --pingers 2000 --ping-rate 20 --seconds 32 --token $TOK >/tmp/ping-swarm.log 2>&1 &
  pp=$!
  sleep 8
  echo "$server with:    $(fanout $sp)"
  wait $pp
  echo "  $(tail -1 /tmp/ping-swarm.log)"
  kill $sp
  wait $sp 2>/dev/null || true
done
