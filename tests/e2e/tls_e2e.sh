#!/usr/bin/env bash
# TLS end to end with the real binary and curl, on certificates generated here:
# HTTPS works, mTLS (RequireAndVerifyClientCert) admits only clients signed by the
# configured CA, TLS 1.1 is refused, plain HTTP to the TLS port fails cleanly and the
# server keeps serving, and promtool check web-config agrees with our parser. TLS 1.2
# suites without forward secrecy or AEAD are refused (openssl s_client -cipher), and
# SIGHUP re-reads the web config: a rotated certificate for new connections, while
# an invalid file or turning TLS off is refused and the old configuration serves on.
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

# Issue #17: `openssl s_client -tls1_2 -cipher AES128-SHA` negotiated. The TLS 1.2
# default is now ECDHE with AES-GCM or ChaCha20-Poly1305.
s_client() { openssl s_client -connect "127.0.0.1:$port" -CAfile server-ca.crt -cert client.crt -key client.key "$@" </dev/null >/dev/null 2>&1; }
refused() { ! s_client "$@"; }
check "s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 (the control)" s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
for weak in AES128-SHA AES256-SHA256 ECDHE-RSA-AES128-SHA; do
  check "s_client -tls1_2 -cipher $weak: refused" refused -tls1_2 -cipher "$weak"
done

# SIGHUP: certificate rotation. New connections get the new certificate.
wait_log() { # PATTERN [COUNT]: until the log has COUNT lines matching PATTERN (5 s)
  for _ in $(seq 1 50); do
    [[ $(grep -c -- "$1" log) -ge ${2:-1} ]] && return 0
    sleep 0.1
  done
  return 1
}
server_cn_is() { # CN
  [[ $(openssl s_client -connect "127.0.0.1:$port" -CAfile server-ca.crt -cert client.crt -key client.key </dev/null 2>/dev/null |
       openssl x509 -noout -subject 2>/dev/null) == "subject=CN = $1" ]]
}
check "serving server.crt before the reload" server_cn_is server
leaf server2 server-ca "subjectAltName=IP:127.0.0.1"
cat >web.yml <<YAML
tls_server_config:
  cert_file: server2.crt
  key_file: server2.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: client-ca.crt
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
  curve_preferences: [CurveP384, X25519]
  prefer_server_cipher_suites: true
YAML
check "promtool check web-config accepts the Go names" promtool check web-config web.yml
kill -HUP "$pid"
check "SIGHUP: web config loaded" wait_log 'msg="web config loaded"'
check "new connections get the rotated certificate" server_cn_is server2
check "and the reloaded cipher_suites (AES128-GCM refused)" refused -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
check "AES256-GCM accepted" s_client -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384
check "mTLS still required after the reload" bash -c "! curl -fsS -o /dev/null --cacert server-ca.crt '$url' 2>/dev/null"
check "/metrics over mTLS after the reload" bash -c "$(declare -f ok_client); ok_client 'https://127.0.0.1:$port/metrics' | grep -q agent_exporter_build_info"

cp web.yml good.yml
sed 's/^  cipher_suites: .*/  cipher_suites: [AES128-SHA]/' good.yml >web.yml  # OpenSSL's name, not Go's
kill -HUP "$pid"
check "an invalid file on SIGHUP: logged, naming the key and the value" \
  wait_log 'reload failed, keeping the previous web config.*cipher_suites: unknown cipher suite \\"AES128-SHA\\"'
check "the previous configuration serves on" server_cn_is server2
printf 'basic_auth_users: {}\n' >web.yml
kill -HUP "$pid"
check "turning TLS off on SIGHUP: refused" wait_log 'reload failed, keeping the previous web config.*turning TLS off needs a restart'
check "still HTTPS with the last good configuration" server_cn_is server2
check "process alive after the reloads" kill -0 "$pid"

cat >bad.yml <<YAML
tls_server_config:
  cert_file: server.crt
  key_file: client.key
YAML
"$bin" --web.config.file=bad.yml --web.listen-address=127.0.0.1:0 >bad.log 2>&1; rc=$?
check "a key that does not match the certificate: exit 2 naming the file" bash -c "[[ $rc -eq 2 ]] && grep -q 'web.config.file' bad.log"
sed 's/^  cipher_suites: .*/  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ECDHE-RSA-AES128-SHA]/' good.yml >bad-cipher.yml
"$bin" --web.config.file=bad-cipher.yml --web.listen-address=127.0.0.1:0 >bad-cipher.log 2>&1; rc=$?
check "an OpenSSL name in cipher_suites: exit 2 naming the key and the value" \
  bash -c "[[ $rc -eq 2 ]] && grep -qF 'tls_server_config.cipher_suites: unknown cipher suite \"ECDHE-RSA-AES128-SHA\"' bad-cipher.log"
check "promtool rejects it too" bash -c "! promtool check web-config bad-cipher.yml >/dev/null 2>&1"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
