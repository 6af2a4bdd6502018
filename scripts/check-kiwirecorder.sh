#!/usr/bin/env bash
# Records 5 s of IQ from `sdrhub simulate --kiwi` with the public KiwiSDR client
# (kiwirecorder.py from https://github.com/jks-prv/kiwiclient, which needs numpy), then runs
# `sdrhub detect` over the Kiwi WAV it wrote. Proves the emulator speaks the protocol well
# enough for the reference client. Usage: scripts/check-kiwirecorder.sh /path/to/kiwiclient
set -euo pipefail
kiwiclient=${1:?usage: $0 /path/to/kiwiclient}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --manifest-path "$root/Cargo.toml"
out=$(mktemp -d)
"$root/target/debug/sdrhub" simulate --kiwi --port 18073 >"$out/receivers.toml" 2>"$out/simulate.log" &
simulator=$!
trap 'kill $simulator 2>/dev/null; rm -rf "$out"' EXIT
sleep 1
(cd "$kiwiclient" && python3 kiwirecorder.py -s 127.0.0.1 -p 18073 -f 10000 -m iq --kiwi-wav --tlimit 5 -d "$out" >/dev/null)
wav=$(ls "$out"/*.wav)
echo "kiwirecorder wrote $(stat -c %s "$wav") bytes: $(basename "$wav")"
"$root/target/debug/sdrhub" detect "$wav" --center-freq 10e6 --fft-size 1024 --averages 4
