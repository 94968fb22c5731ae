#!/usr/bin/env bash
# TLS end to end with the real binary and curl, on certificates generated here:
# HTTPS works, mTLS (RequireAndVerifyClientCert) admits only clients signed by the
# configured CA, TLS 1.1 is refused, plain HTTP to the TLS port fails cleanly and the
# server keeps serving, and promtool check web-config agrees with our parser.
#   tls_e2e.sh PATH_TO_BINARY
set -uo pipefail
bin=$(readlink -f "$1")
dir=$(mktemp -d /tmp/aee-tls.XXXXXX)
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
source "$(dirname "$(readlink -f "$0")")/lib.sh"
cd "$dir"

ca() { # NAME
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$1.key" -out "$1.crt" 2>/dev/null
}
leaf() { # NAME CA EXT
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
ca server-ca
ca client-ca
ca rogue-ca
leaf server server-ca "subjectAltName=IP:127.0.0.1"
leaf client client-ca "extendedKeyUsage=clientAuth"
leaf rogue rogue-ca "extendedKeyUsage=clientAuth"

cat >web.yml <<YAML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: client-ca.crt
YAML
check "promtool check web-config accepts the file" promtool check web-config web.yml

"$bin" --web.config.file=web.yml --web.listen-address=127.0.0.1:0 --db.url=postgresql://x@127.0.0.1:1/x \
  --log.format=logfmt >log 2>&1 &
pid=$!
port=$(listening_port log)
check "listening with TLS" test -n "$port"
url=https://127.0.0.1:$port/healthz
ok_client() { curl -fsS --cacert server-ca.crt --cert client.crt --key client.key "$@"; }
check "HTTPS with a client certificate from the configured CA" bash -c "$(declare -f ok_client); ok_client -o /dev/null '$url'"
check "/metrics over mTLS" bash -c "$(declare -f ok_client); ok_client 'https://127.0.0.1:$port/metrics' | grep -q agent_exporter_build_info"
check "no client certificate: refused" bash -c "! curl -fsS -o /dev/null --cacert server-ca.crt '$url' 2>/dev/null"
check "client certificate from another CA: refused" \
  bash -c "! curl -fsS -o /dev/null --cacert server-ca.crt --cert rogue.crt --key rogue.key '$url' 2>/dev/null"
check "TLS 1.1: refused" \
  bash -c "! curl -fsS -o /dev/null --tlsv1.1 --tls-max 1.1 --cacert server-ca.crt --cert client.crt --key client.key '$url' 2>/dev/null"
check "plain HTTP to the TLS port fails" bash -c "! curl -fsS -o /dev/null --max-time 5 'http://127.0.0.1:$port/healthz' 2>/dev/null"
check "still serving HTTPS afterwards" bash -c "$(declare -f ok_client); ok_client -o /dev/null '$url'"
check "process alive (no crash on any of the above)" kill -0 "$pid"

cat >bad.yml <<YAML
tls_server_config:
  cert_file: server.crt
  key_file: client.key
YAML
"$bin" --web.config.file=bad.yml --web.listen-address=127.0.0.1:0 >bad.log 2>&1; rc=$?
check "a key that does not match the certificate: exit 2 naming the file" bash -c "[[ $rc -eq 2 ]] && grep -q 'web.config.file' bad.log"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
