#!/bin/bash
# Issue 20's A/B: the p99 of event delivery to 200 clients (50 events/s each) without and with
# audio.max_listeners (4) listeners on the default scene (5 simulated receivers at 1.024 MS/s,
# its FM voice kept on the air), one of the listeners never reading. Each run on a fresh
# release server. Stop other work first: the numbers are only as quiet as the machine.
#
#   cargo build --release --bin sdrhub --example loadgen
#   scripts/listen-ab.sh target/release/sdrhub
set -euo pipefail
LG=${LOADGEN:-target/release/examples/loadgen}
TOK=load-admin-token-0123456789
PORT=18092
CONF=$(mktemp --suffix .toml)
trap 'rm -f "$CONF"' EXIT
server=${1:-target/release/sdrhub}
# The embedded scene, its FM voice on the air all the time (no schedule).
"$server" config | awk '
  /^\[simulation.transmitters.schedule\]/ { skip = 1; next }
  /^\[/ { skip = 0 }
  !skip { print }' >"$CONF"
python3 - "$CONF" "$PORT" "$TOK" <<'PY'
import sys, re
path, port, tok = sys.argv[1:]
text = open(path).read()
text = re.sub(r'(?m)^bind = .*$', f'bind = "127.0.0.1:{port}"', text, count=1)
text = re.sub(r'(?m)^max_connections_per_address = .*$', 'max_connections_per_address = 20000', text, count=1)
text = re.sub(r'(?m)^connects_per_address_per_s = .*$', 'connects_per_address_per_s = 10000.0', text, count=1)
text = re.sub(r'(?m)^connect_burst_per_address = .*$', 'connect_burst_per_address = 10000.0', text, count=1)
text = re.sub(r'(?ms)^\[history\]\nenabled = true', '[history]\nenabled = false', text, count=1)
text = re.sub(r'(?ms)^\[auth\]\nenabled = false\ntokens = \[\]', '[auth]\nenabled = true', text, count=1)
text += f'''
[[auth.tokens]]
name = "load"
token = "{tok}"
admin = true
events = ["signals:detected", "services:health", "websdrs:status", "localizations:updated", "audio:*"]
'''
open(path, 'w').write(text)
PY
fanout() {
  "$LG" fanout --server 127.0.0.1:$PORT --clients 200 --rate 50 --seconds 20 --token $TOK --server-pid "$1" 2>&1 |
    grep -E 'p99|CPU' | sed 's/.*collected after the run)://' | tr '\n' ' '
}
metric() { curl -s -H "Authorization: Bearer $TOK" http://127.0.0.1:$PORT/metrics | grep -E "^$1" | tr '\n' ' '; }
"$server" --config "$CONF" serve >/dev/null 2>&1 &
sp=$!
sleep 5
echo "without listeners: $(fanout $sp)"
"$LG" listeners --server 127.0.0.1:$PORT --clients 4 --stalled 0.25 --receiver rx1 \
  --frequency 145350000 --listen-mode nfm --seconds 32 --token $TOK --server-pid $sp >/tmp/listen-ab.log 2>&1 &
lp=$!
sleep 6
echo "with 4 listeners:  $(fanout $sp)"
wait $lp
echo "  $(tail -1 /tmp/listen-ab.log)"
echo "  $(metric sdrhub_audio_packets_total) $(metric sdrhub_audio_blocks_dropped_total) $(metric sdrhub_audio_busy_seconds_total)"
kill $sp
wait $sp 2>/dev/null || true
