#!/usr/bin/env bash
# Locates DCF77 from real kiwirecorder recordings (issue 14): the six files of the iq/ folder
# of https://github.com/hcab14/TDoA, which this repository does not include. Runs the
# regression test against them, then prints sdrhub locate's full report for both sets.
# Usage: scripts/check-real-kiwi.sh /path/to/directory/with/the/wav/files
set -euo pipefail
dir=$(cd "${1:?usage: $0 /path/to/kiwirecorder/files}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SDRHUB_REAL_KIWI_DIR="$dir" cargo test --release --test real_kiwi -- --ignored --nocapture
bin="${CARGO_TARGET_DIR:-target}/release/sdrhub"
cargo build --release --quiet
echo
echo "== 2020-08-13: HB9ODP, JO51xl, pa0rdt"
"$bin" locate "$dir"/20200813T065220Z_77500_{HB9ODP,JO51xl,pa0rdt}_iq.wav \
  --position HB9ODP=46.499351,8.798828 --position JO51xl=51.466044,11.977189 \
  --position pa0rdt=51.500500,3.600690 --truth 50.0152,9.0112
echo
echo "== 2017-11-27: DF0KL, F1JEK, HB9RYZ"
"$bin" locate "$dir"/20171127T104156Z_77500_{DF0KL,F1JEK,HB9RYZ}_iq.wav \
  --position DF0KL=53.665337,7.282766 --position F1JEK=45.779290,0.614638 \
  --position HB9RYZ=47.1721,8.42683 --truth 50.0152,9.0112
