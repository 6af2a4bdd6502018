#!/usr/bin/env bash
# The container's health check (the image's HEALTHCHECK and docker-compose.yml run it as
# sdrhub-healthcheck): exit 0 when sdrhub answers GET /healthz with 200, 1 otherwise.
# The runtime image has no curl or wget; bash's /dev/tcp is the HTTP client.
#   SDRHUB_HEALTHCHECK_ADDR  host:port to ask (default 127.0.0.1:8080, deploy/sdrhub.toml's bind)
# tests/deploy.rs runs this script against a live sdrhub, a server answering 503 and a closed port.
set -euo pipefail

addr=${SDRHUB_HEALTHCHECK_ADDR:-127.0.0.1:8080}
host=${addr%:*}
port=${addr##*:}

# A refused connection fails this redirection, which ends the script with status 1.
exec 3<>"/dev/tcp/$host/$port"
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
status=""
IFS= read -r -t 5 status <&3 || true
status=${status%$'\r'}
case $status in
  "HTTP/1."[01]" 200 "*) exit 0 ;;
  *)
    echo "sdrhub-healthcheck: GET http://$addr/healthz answered '${status:-nothing within 5 s}'" >&2
    exit 1
    ;;
esac
