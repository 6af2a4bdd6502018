#!/usr/bin/env bash
# Conformance of sdrhub's WebSocket transport, measured by the standard peer suite: the
# Autobahn|Testsuite fuzzing client (Python 2.7, `pip install autobahntestsuite`) against
# `examples/ws_echo.rs`, an echo endpoint built on the same transport code as `/ws`.
# Sections 1-10; 12-13 (permessage-deflate) are not offered by the server, so not run.
# Fails when any case is FAILED or closes uncleanly; prints the tally and writes the report to
# target/autobahn/ (index.html is the suite's own report).
set -euo pipefail
cd "$(dirname "$0")/.."

python2="${AUTOBAHN_PYTHON:-$HOME/.pyenv/versions/2.7.18/bin/python}"
if [ ! -x "$python2" ]; then
  python2="$(command -v python2.7 || true)"
fi
if [ -z "$python2" ] || [ ! -x "$python2" ]; then
  echo "autobahn: no Python 2.7 (looked in ~/.pyenv/versions/2.7.18 and PATH); set AUTOBAHN_PYTHON" >&2
  exit 1
fi
if ! "$python2" -c 'import autobahntestsuite' 2>/dev/null; then
  echo "==> installing autobahntestsuite for $python2 (pip)"
  "$python2" -m pip install --quiet autobahntestsuite
fi
wstest="$(dirname "$python2")/wstest"

out="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)/autobahn"
rm -rf "$out" && mkdir -p "$out"
cargo build --quiet --example ws_echo
bin="${CARGO_TARGET_DIR:-target}/debug/examples/ws_echo"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" "127.0.0.1:$port" >"$out/echo.log" 2>&1 &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cat >"$out/fuzzingclient.json" <<JSON
{
  "outdir": "$out/report",
  "servers": [{"agent": "sdrhub", "url": "ws://127.0.0.1:$port"}],
  "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
(cd "$out" && "$wstest" -m fuzzingclient -s fuzzingclient.json >wstest.log 2>&1)

python3 - "$out/report/index.json" <<'PY'
import collections, json, sys
cases = json.load(open(sys.argv[1]))["sdrhub"]
tally = collections.Counter(c["behavior"] for c in cases.values())
close = collections.Counter(c["behaviorClose"] for c in cases.values())
print("autobahn: %d cases, behaviour %s, closing %s" % (len(cases), dict(tally), dict(close)))
bad = sorted(
    (k for k, c in cases.items()
     if c["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL")
     or c["behaviorClose"] not in ("OK", "INFORMATIONAL")),
    key=lambda k: [int(p) for p in k.split(".")])
for k in bad:
    print("  %s: behaviour %s, closing %s" % (k, cases[k]["behavior"], cases[k]["behaviorClose"]))
sys.exit(1 if bad else 0)
PY
