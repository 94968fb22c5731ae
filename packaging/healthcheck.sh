#!/usr/bin/env bash
# The container image's HEALTHCHECK: GET /healthz on the address the running exporter
# listens on, over TLS when its web config serves TLS. Docker runs a health check
# without the container's arguments, so this reads them from the exporter's own command
# line (/proc/1/cmdline: the exporter is PID 1, the ENTRYPOINT) — the same
# --web.listen-address and --web.config.file it parsed, whether given as --flag=value
# or --flag value.
#   healthy:   200, or 401 when the web config requires basic auth and no credential
#              was given (the exporter answered; it needs a password to say more)
#   env:       AEE_HEALTHCHECK_PID          the exporter's pid (default 1)
#              AEE_HEALTHCHECK_CERT, _KEY   client certificate and key, for a web config
#                                           with client_auth_type RequireAndVerifyClientCert
#              AEE_HEALTHCHECK_BASIC_AUTH   user:password for basic auth
# Exit 0 healthy, 1 not (with the reason on stderr). tests/packaging_test.sh runs it
# against a plain and a TLS exporter on non-default ports.
set -uo pipefail

pid=${AEE_HEALTHCHECK_PID:-1}
proc=/proc/$pid
fail() { echo "healthcheck: $*" >&2; exit 1; }
[[ -r $proc/cmdline ]] || fail "cannot read $proc/cmdline (is the exporter pid $pid?)"

listen=":9477"
web_config=""
mapfile -d '' args <"$proc/cmdline"
for ((i = 1; i < ${#args[@]}; i++)); do
  a=${args[i]}
  case "$a" in
    --web.listen-address=*) listen=${a#*=} ;;
    --web.listen-address) listen=${args[i + 1]:-}; i=$((i + 1)) ;;
    --web.config.file=*) web_config=${a#*=} ;;
    --web.config.file) web_config=${args[i + 1]:-}; i=$((i + 1)) ;;
  esac
done

# host:port, :port, [v6]:port. A wildcard host is probed on loopback.
port=${listen##*:}
host=${listen%:*}
[[ $port =~ ^[0-9]+$ ]] || fail "cannot read a port from --web.listen-address=$listen"
case "$host" in
  "" | 0.0.0.0) host=127.0.0.1 ;;
  "[::]") host="[::1]" ;;
esac

scheme=http
curl_args=(--silent --show-error --output /dev/null --write-out '%{http_code}' --max-time 4)
basic_auth=0
if [[ -n $web_config ]]; then
  # A relative path is relative to the exporter's working directory.
  [[ $web_config == /* ]] || web_config=$proc/cwd/$web_config
  [[ -r $web_config ]] || fail "cannot read the web config $web_config"
  if grep -Eq '^tls_server_config:' "$web_config"; then
    scheme=https
    # The exporter's own certificate, probed on loopback: its name is not checked.
    curl_args+=(--insecure)
    if grep -Eq '^[[:space:]]+client_auth_type:[[:space:]]*"?RequireAndVerifyClientCert' "$web_config"; then
      [[ -n ${AEE_HEALTHCHECK_CERT:-} && -n ${AEE_HEALTHCHECK_KEY:-} ]] \
        || fail "the web config requires client certificates: set AEE_HEALTHCHECK_CERT and AEE_HEALTHCHECK_KEY"
    fi
  fi
  grep -Eq '^basic_auth_users:' "$web_config" && basic_auth=1
fi
[[ -n ${AEE_HEALTHCHECK_CERT:-} ]] && curl_args+=(--cert "$AEE_HEALTHCHECK_CERT")
[[ -n ${AEE_HEALTHCHECK_KEY:-} ]] && curl_args+=(--key "$AEE_HEALTHCHECK_KEY")
[[ -n ${AEE_HEALTHCHECK_BASIC_AUTH:-} ]] && curl_args+=(--user "$AEE_HEALTHCHECK_BASIC_AUTH")

url="$scheme://$host:$port/healthz"
code=$(curl "${curl_args[@]}" "$url") || fail "GET $url: no answer (curl exit $?)"
[[ $code == 200 ]] && exit 0
[[ $code == 401 && $basic_auth -eq 1 && -z ${AEE_HEALTHCHECK_BASIC_AUTH:-} ]] && exit 0
fail "GET $url: HTTP $code"
