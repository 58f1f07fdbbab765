#!/usr/bin/env bash
# The ztapi demo: ztapid on live traffic. nginx terminates TLS (HTTP/1.1 and
# HTTP/2) with a self-signed certificate in front of a small local JSON API.
# curl, nghttp and a Python client make a realistic mix of calls. Then the
# ztapi CLI shows the endpoint inventory, recent transactions, the endpoints
# that carried card numbers, the call graph and the daemon's status.
# Everything listens on 127.0.0.1 and is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [[ $EUID -ne 0 ]]; then
  echo "demo: ztapid loads eBPF programs, so the demo must run as root; rerun with sudo" >&2
  exit 1
fi

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "building ztapid and ztapi (release; a minute or two the first time)"
# The build script relays the eBPF build's progress as cargo warnings,
# which read like problems; the output is kept and shown only on failure.
BUILD_LOG=$(mktemp /tmp/ztapi-demo-build.XXXXXX)
if ! cargo build --release --bin ztapid --bin ztapi >"$BUILD_LOG" 2>&1; then
  cat "$BUILD_LOG"
  echo "demo: the build failed; its output is above" >&2
  exit 1
fi
rm -f "$BUILD_LOG"
echo "built target/release/ztapid and target/release/ztapi"
ZTAPID="$ROOT/target/release/ztapid"
ZTAPI="$ROOT/target/release/ztapi"

WORK=$(mktemp -d /tmp/ztapi-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

SOCKET="$WORK/ztapid.sock"
ztapi() { "$ZTAPI" --socket "$SOCKET" "$@"; }

step "starting ztapid (data in $WORK/data)"
"$ZTAPID" --socket "$SOCKET" --data-dir "$WORK/data" --scan-interval-ms 500 2>"$WORK/ztapid.log" &
PIDS+=($!)
for _ in $(seq 100); do
  ztapi status >/dev/null 2>&1 && break
  sleep 0.2
done
ztapi status >/dev/null || { cat "$WORK/ztapid.log"; exit 1; }

step "starting the API backend and nginx with a self-signed certificate"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
/usr/bin/python3 tests/fixtures/api_server.py >"$WORK/backend.out" &
PIDS+=($!)
for _ in $(seq 50); do grep -q READY "$WORK/backend.out" && break; sleep 0.1; done
BACKEND_PORT=$(awk '/READY/ {print $2}' "$WORK/backend.out")

NGINX_PORT=18443
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/nginx/error.log;
pid $WORK/nginx/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream api { server 127.0.0.1:$BACKEND_PORT; keepalive 8; }
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2;
    server_name api.demo.local;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

printf 'waiting for ztapid to hook the libssl nginx uses'
for _ in $(seq 50); do
  ztapi status --json 2>/dev/null | grep -q '"probes"' && break
  printf '.'
  sleep 0.2
done
echo

step "sending API calls with curl and Python over TLS"
BASE="https://127.0.0.1:$NGINX_PORT"
HOST_HEADER="Host: api.demo.local"
TOKEN="Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl"
for id in 17 42 1337 9001; do
  curl -sk -o /dev/null -H "$HOST_HEADER" -H "$TOKEN" "$BASE/api/users/$id"
done
curl -sk -o /dev/null -H "$HOST_HEADER" "$BASE/api/users/0"
curl -sk -o /dev/null -H "$HOST_HEADER" "$BASE/health"
curl -sk -o /dev/null -H "$HOST_HEADER" -u demo:secret "$BASE/api/stream"
curl -sk -o /dev/null -H "$HOST_HEADER" -H "X-API-Key: k-123456" -H 'Content-Type: application/json' \
  -d '{"items":[3,4],"payment":{"card_number":"4539 5787 6362 1486","expiry":"12/29"}}' "$BASE/api/orders"
/usr/bin/python3 tests/fixtures/api_client.py --port "$NGINX_PORT" --rounds 3 >/dev/null
# HTTP/2: three streams multiplexed on one TLS connection.
# nghttp warns that the self-signed certificate does not match the host;
# that is expected here, so the warning is left out.
nghttp -n "$BASE/api/orders/5d0f3c2e-1b7a-4c9d-8e6f-0a1b2c3d4e5f" "$BASE/api/users/77" "$BASE/api/search?q=socks" 2>&1 |
  { grep -v 'Certificate verification failed' || true; }
sleep 1

step "ztapi endpoints"
ztapi endpoints
step "ztapi transactions --limit 8"
ztapi transactions --limit 8
step "ztapi endpoints --data pci (endpoints that carried payment card numbers)"
ztapi endpoints --data pci
step "ztapi graph (nginx's calls to the backend are cleartext, captured at the socket hooks)"
ztapi graph
step "ztapi status"
ztapi status
