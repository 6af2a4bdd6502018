#!/bin/bash
# Issue 15's A/B: the p99 of event delivery to 200 honest clients (50 events/s each) without and
# with 2 000 clients sending 20 `ping`s a second, for one or more release server builds, each
# on a fresh server, the builds alternating for REPS rounds. Stop other work first: the numbers
# are only as quiet as the machine.
#
#   cargo build --release --bin sdrhub --example loadgen
#   scripts/ping-swarm-ab.sh target/release/sdrhub [other/sdrhub ...]
#   REPS=3 SECS=40 scripts/ping-swarm-ab.sh ...    # rounds, seconds per measured run
#   CONTROL=1 scripts/ping-swarm-ab.sh ...         # the swarm hits a second server instead
#
# The swarm's generator runs at SCHED_IDLE (`chrt --idle 0`): in real life its CPU is other
# machines'. At `nice 19` it is not out of the way on 2 cores: the kernel's fair scheduler
# (EEVDF) lets a running task finish its slice, so the generator still holds a core as long as
# the server does. CONTROL=1 measures what the generator costs the honest clients by itself:
# the swarm goes to a second server process, so any rise left is the machine's, not the hub's.
#
# Uses the configuration of docs/measurements.md#gateway-under-load, written to a temp file.
set -euo pipefail
LG=${LOADGEN:-target/release/examples/loadgen}
REPS=${REPS:-1}
SECS=${SECS:-20}
TOK=load-admin-token-0123456789
CONF=$(mktemp --suffix .toml)
CONF2=$(mktemp --suffix .toml)
trap 'rm -f "$CONF" "$CONF2"' EXIT
config() {
  cat <<TOML
[server]
bind = "127.0.0.1:$1"
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
}
config 18090 >"$CONF"
config 18095 >"$CONF2"
swarm_port=18090
[ -n "${CONTROL:-}" ] && swarm_port=18095
fanout() {
  "$LG" fanout --server 127.0.0.1:18090 --clients 200 --rate 50 --seconds "$SECS" --token $TOK --server-pid "$1" 2>&1 |
    grep -E 'p99|CPU' | sed 's/.*collected after the run)://; s/; RSS.*//' | tr '\n' ' '
}
for round in $(seq "$REPS"); do
  for server in "$@"; do
    "$server" --config "$CONF" >/dev/null 2>&1 &
    sp=$!
    other=
    if [ -n "${CONTROL:-}" ]; then
      "$server" --config "$CONF2" >/dev/null 2>&1 &
      other=$!
    fi
    sleep 3
    echo "round $round $server without: $(fanout $sp)"
    chrt --idle 0 "$LG" pingers --server 127.0.0.1:$swarm_port --pingers 2000 --ping-rate 20 \
      --seconds $((SECS + 12)) --token $TOK >/tmp/ping-swarm.log 2>&1 &
    pp=$!
    sleep 8
    echo "round $round $server with:    $(fanout $sp)"
    wait $pp
    echo "  $(tail -1 /tmp/ping-swarm.log)"
    kill $sp $other
    wait $sp $other 2>/dev/null || true
  done
done
