#!/usr/bin/env bash
# Packaging and deployment checks (make test-packaging; docs/deploy.md):
#   - the Dockerfile's build path without a Docker engine: the same script steps
#     (packaging/build.sh) compile a release into a prefix, every shared library the
#     binaries load comes from the runtime stage's packages, and the Dockerfile calls
#     exactly those steps, with a numeric USER, OCI labels and a HEALTHCHECK script
#     that follows the listen address and TLS (run here against real exporters);
#   - README's "Building by hand" list is the build set of scripts/install-deps.sh, and
#     holds every package whose files CMake's find_package/pkg_check_modules found;
#   - make install (PREFIX, DESTDIR), the systemd units of the exporter and the rollup
#     writer (systemd-analyze verify and their security scores), the .deb (CPack):
#     lintian, dpkg -i (units not enabled), run both binaries, files, dpkg -r;
#   - deploy/kubernetes: rendered files up to date, schemas (tests/kubernetes);
#   - deploy/check.sh (compose, Prometheus and Alertmanager configs).
# Reuses one release build (PACKAGING_BUILD_DIR, default build-release).
# Ports 19110-19113 on 127.0.0.1 (AEE_PACKAGING_PORT_BASE to move them).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
passed=0; failed=0
step() { local name=$1; shift; if out=$("$@" 2>&1); then echo "ok   - $name"; passed=$((passed + 1)); else echo "FAIL - $name"; echo "$out" | tail -20; failed=$((failed + 1)); fi; }
build=${PACKAGING_BUILD_DIR:-build-release}
port_base=${AEE_PACKAGING_PORT_BASE:-19110}
work=$(mktemp -d /tmp/aee-pkg.XXXXXX)
prefix=$work/prefix
pids=()
deb_installed=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [[ $deb_installed -eq 1 ]] && dpkg -r agent-execution-exporter >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the image's build path ---------------------------------------------------------
step "packaging/build.sh build-deps" packaging/build.sh build-deps
step "packaging/build.sh compile (release build, install)" env BUILD_DIR="$build" packaging/build.sh compile "$prefix"
step "the binaries installed (exporter, rollup writer, simulator)" test -x "$prefix/bin/agent_execution_exporter" \
  -a -x "$prefix/bin/agent_execution_rollup" -a -x "$prefix/bin/agent_platform_sim"
step "packaging/build.sh check (runtime libraries)" packaging/build.sh check "$prefix"
step "Dockerfile runs the same steps" bash -c 'grep -q "packaging/build.sh build-deps" Dockerfile && grep -q "packaging/build.sh compile" Dockerfile && grep -q "build.sh runtime-deps" Dockerfile'
dockerfile_checks() {
  grep -Eq '^USER [1-9][0-9]*:[1-9][0-9]*$' Dockerfile || { echo "USER is not a numeric uid:gid"; return 1; }
  local uid; uid=$(sed -n 's/^USER \([0-9]*\):.*/\1/p' Dockerfile)
  grep -q "useradd .*--uid $uid" Dockerfile || { echo "no user with uid $uid is created"; return 1; }
  grep -q "runAsUser: $uid" deploy/kubernetes/deployment.yaml || { echo "deploy/kubernetes runs another uid"; return 1; }
  for l in title description version revision; do
    grep -q "org.opencontainers.image.$l=" Dockerfile || { echo "OCI label org.opencontainers.image.$l missing"; return 1; }
  done
  grep -q '^EXPOSE 9477' Dockerfile && grep -q '^ENTRYPOINT \["/usr/local/bin/agent_execution_exporter"\]' Dockerfile \
    || { echo "EXPOSE 9477 / exec-form ENTRYPOINT missing (healthcheck.sh reads PID 1's flags)"; return 1; }
  grep -q '/usr/local/share/agent-exporter/healthcheck.sh' <<<"$(grep -A1 '^HEALTHCHECK' Dockerfile)" \
    || { echo "HEALTHCHECK does not run healthcheck.sh"; return 1; }
  grep -q '^COPY .*packaging/healthcheck.sh /usr/local/share/agent-exporter/' Dockerfile || { echo "healthcheck.sh not copied"; return 1; }
}
step "Dockerfile: numeric USER (= Kubernetes runAsUser), OCI labels, EXPOSE, ENTRYPOINT, HEALTHCHECK script" dockerfile_checks

# The health check against real exporters: plain on one port, TLS on another (flags in
# both spellings, web config relative to the working directory), then a stopped one.
exporter=$prefix/bin/agent_execution_exporter
start_exporter() { # dir args...
  local d=$1; shift
  (cd "$d" && exec "$exporter" --db.url='postgresql://probe@127.0.0.1:1/none?connect_timeout=1' --log.level=error "$@" >"$d/log" 2>&1) &
  pids+=($!)
  echo $!
}
wait_healthy() { # pid: the script itself, up to 10 s
  for _ in $(seq 100); do AEE_HEALTHCHECK_PID=$1 packaging/healthcheck.sh 2>/dev/null && return 0; sleep 0.1; done
  AEE_HEALTHCHECK_PID=$1 packaging/healthcheck.sh
}
mkdir -p "$work/plain" "$work/tls"
plain_pid=$(start_exporter "$work/plain" --web.listen-address=127.0.0.1:$((port_base + 1)))
step "healthcheck.sh: plain HTTP on --web.listen-address=127.0.0.1:$((port_base + 1))" wait_healthy "$plain_pid"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=aee-healthcheck" \
  -keyout "$work/tls/tls.key" -out "$work/tls/tls.crt" >/dev/null 2>&1
# The shipped example web config (tls.crt, tls.key beside it).
cp packaging/examples/web-config.yml "$work/tls/web.yml"
tls_pid=$(start_exporter "$work/tls" --web.listen-address :$((port_base + 2)) --web.config.file web.yml)
step "healthcheck.sh: TLS (--web.config.file web.yml, relative) on --web.listen-address :$((port_base + 2))" wait_healthy "$tls_pid"
step "the TLS exporter refuses plain HTTP (so the check's https matters)" \
  bash -c "! curl -fsS --max-time 3 -o /dev/null http://127.0.0.1:$((port_base + 2))/healthz"
# Basic auth: a 401 without a password is an answer; with one, 200; a wrong one fails.
hash=$(/usr/bin/python3 -W ignore -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))')
mkdir -p "$work/basic"; printf 'basic_auth_users:\n  probe: %s\n' "$hash" >"$work/basic/web.yml"
basic_pid=$(start_exporter "$work/basic" --web.listen-address=127.0.0.1:$((port_base + 3)) --web.config.file="$work/basic/web.yml")
basic_auth_checks() {
  wait_healthy "$basic_pid" || return 1
  AEE_HEALTHCHECK_PID=$basic_pid AEE_HEALTHCHECK_BASIC_AUTH=probe:s3cret packaging/healthcheck.sh || return 1
  ! AEE_HEALTHCHECK_PID=$basic_pid AEE_HEALTHCHECK_BASIC_AUTH=probe:wrong packaging/healthcheck.sh
}
step "healthcheck.sh: basic auth (401 unasked, 200 with the password, a wrong one fails)" basic_auth_checks
# A process with an exporter's flags and nothing listening on its address.
bash -c 'sleep 60' stub --web.listen-address=127.0.0.1:$port_base & stub=$!; pids+=($stub)
step "healthcheck.sh: fails when nothing answers on the exporter's address" \
  bash -c "! AEE_HEALTHCHECK_PID=$stub packaging/healthcheck.sh"
for p in "$plain_pid" "$tls_pid" "$basic_pid" "$stub"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

# ---- README's build list --------------------------------------------------------------
readme_build_list() {
  # The backquoted list after "Debian packages:" in "Building by hand", as words.
  awk '/^## Building by hand/{f=1} f' README.md | tr '\n' ' ' | sed -n 's/.*Debian packages: `\([^`]*\)`.*/\1/p' | tr -s ' ' '\n' | sed '/^$/d' | sort -u
}
readme_matches_build_set() {
  local readme set
  readme=$(readme_build_list); set=$(scripts/install-deps.sh --list build | sort -u)
  [[ -n $readme ]] || { echo "no \`...\` package list after \"Debian packages:\" in README's Building by hand"; return 1; }
  diff <(echo "$readme") <(echo "$set") && return 0
  echo "README (<) and scripts/install-deps.sh's build set (>) differ"; return 1
}
step "README 'Building by hand' lists exactly install-deps.sh's build set" readme_matches_build_set
build_set_is_build_only() {
  local bad; bad=$(scripts/install-deps.sh --list build | grep -Ex 'postgresql.*|prometheus(-alertmanager)?|clang.*|wrk|chromium|jsonnet|lintian|nodejs|npm|help2man|systemd' || true)
  [[ -z $bad ]] || { echo "the build set holds test/demo packages: $bad"; return 1; }
  grep -Eq '^build: deps-build$' Makefile && grep -q 'install-deps.sh build$' <<<"$(grep -A1 '^deps-build:' Makefile)" \
    || { echo "make build does not depend on deps-build = install-deps.sh build alone"; return 1; }
}
step "make build installs the build set only (no PostgreSQL, Prometheus, clang, wrk, ...)" build_set_is_build_only
cmake_packages_listed() {
  # Configure a fresh tree (tests on, so GTest is found too) and map every file CMake
  # resolved a dependency to onto its Debian package.
  local dir=$work/cmake-deps files=() f owner pkg missing=0 listed
  cmake -S . -B "$dir" -DAEE_BUILD_BENCH=OFF >/dev/null || return 1
  local cache=$dir/CMakeCache.txt var
  entry() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }
  # A package config directory: its *config.cmake file (a directory can have many owners).
  for var in prometheus-cpp_DIR civetweb_DIR nlohmann_json_DIR yaml-cpp_DIR GTest_DIR; do
    f=$(ls "$(entry "$var")"/*[Cc]onfig.cmake 2>/dev/null | head -1)
    [[ -n $f ]] && files+=("$f")
  done
  # Include directories by the header found there; libraries as they are.
  files+=("$(entry ZLIB_INCLUDE_DIR)/zlib.h" "$(entry OPENSSL_INCLUDE_DIR)/openssl/ssl.h")
  for var in ZLIB_LIBRARY_RELEASE OPENSSL_SSL_LIBRARY OPENSSL_CRYPTO_LIBRARY; do files+=("$(entry "$var")"); done
  for m in libpqxx libpq libxcrypt; do files+=("$(pkg-config --path "$m")"); done
  [[ ${#files[@]} -ge 13 ]] || { echo "found only ${#files[@]} dependency files in CMakeCache.txt: ${files[*]}"; return 1; }
  listed=$(readme_build_list)
  for f in "${files[@]}"; do
    owner=$(dpkg -S "$f" 2>/dev/null || dpkg -S "$(readlink -f "$f")" 2>/dev/null)
    pkg=${owner%%:*}
    if [[ -z $pkg ]]; then echo "$f: owned by no package"; missing=1; continue; fi
    grep -qx "$pkg" <<<"$listed" || { echo "$f comes from $pkg, which README does not list"; missing=1; }
  done
  return $missing
}
step "every package CMake found a dependency in is in README's list" cmake_packages_listed

# ---- make install, the systemd unit ------------------------------------------------
make_install() {
  make -s install BUILD="$build" PREFIX=/opt/aee DESTDIR="$work/destdir" >/dev/null || return 1
  local root=$work/destdir/opt/aee f
  for f in bin/agent_execution_exporter lib/systemd/system/agent-execution-exporter.service \
    share/doc/agent-execution-exporter/examples/agent-execution-exporter.default \
    share/doc/agent-execution-exporter/examples/web-config.yml share/man/man1/agent_execution_exporter.1.gz \
    bin/agent_execution_rollup lib/systemd/system/agent-execution-rollup.service \
    share/doc/agent-execution-exporter/examples/agent-execution-rollup.default share/man/man1/agent_execution_rollup.1.gz; do
    [[ -f $root/$f ]] || { echo "make install: $f missing under DESTDIR/PREFIX"; return 1; }
  done
  grep -qx 'ExecStart=/opt/aee/bin/agent_execution_exporter $AGENT_EXPORTER_ARGS' "$root/lib/systemd/system/agent-execution-exporter.service" \
    || { echo "the exporter unit's ExecStart does not follow PREFIX"; return 1; }
  grep -qx 'ExecStart=/opt/aee/bin/agent_execution_rollup $AGENT_ROLLUP_ARGS' "$root/lib/systemd/system/agent-execution-rollup.service" \
    || { echo "the rollup unit's ExecStart does not follow PREFIX"; return 1; }
  [[ -z $(find "$work/destdir" -mindepth 1 -maxdepth 1 ! -name opt) ]] || { echo "files installed outside PREFIX"; return 1; }
}
step "make install PREFIX=/opt/aee DESTDIR=...: binaries, units, examples, man pages (exporter, rollup)" make_install

# ---- the .deb --------------------------------------------------------------------------
make_package() {
  rm -rf "$build/packages"
  make -s package PACKAGE_BUILD="$build" >/dev/null || return 1
  local deb; deb=$(ls "$build"/packages/agent-execution-exporter_*.deb 2>/dev/null | head -1)
  [[ -n $deb ]] || { echo "no .deb under $build/packages"; return 1; }
  dpkg-deb --info "$deb" >/dev/null
}
step "make package: the .deb (CPack)" make_package
# (step runs each check in a subshell: state comes back through files.)
deb=$(ls "$build"/packages/agent-execution-exporter_*.deb 2>/dev/null | head -1)
if [[ -n $deb ]]; then
  deb_contents() {
    local want f contents
    contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
    for want in ./usr/bin/agent_execution_exporter ./usr/lib/systemd/system/agent-execution-exporter.service \
      ./usr/share/doc/agent-execution-exporter/copyright ./usr/share/doc/agent-execution-exporter/changelog.gz \
      ./usr/share/doc/agent-execution-exporter/examples/agent-execution-exporter.default \
      ./usr/share/doc/agent-execution-exporter/examples/web-config.yml \
      ./usr/share/man/man1/agent_execution_exporter.1.gz ./usr/share/lintian/overrides/agent-execution-exporter \
      ./usr/bin/agent_execution_rollup ./usr/lib/systemd/system/agent-execution-rollup.service \
      ./usr/share/doc/agent-execution-exporter/examples/agent-execution-rollup.default \
      ./usr/share/man/man1/agent_execution_rollup.1.gz; do
      grep -qx "$want" <<<"$contents" || { echo "$want not in the .deb"; return 1; }
    done
    ! grep -q 'agent_platform_sim' <<<"$contents" || { echo "the simulator (a test tool) is in the .deb"; return 1; }
    grep -q 'libpqxx-6.4' <<<"$(dpkg-deb --field "$deb" Depends)" || { echo "Depends lacks libpqxx-6.4 (dpkg-shlibdeps)"; return 1; }
    # No maintainer script: installing enables and starts neither unit (docs/deploy.md).
    local control; control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
    ! grep -Eq '(^|/)(preinst|postinst|prerm|postrm)$' <<<"$control" \
      || { echo "the .deb has maintainer scripts: $(tr '\n' ' ' <<<"$control")"; return 1; }
  }
  step "the .deb holds both binaries, units, examples, man pages, copyright; no maintainer scripts; Depends from shlibdeps" deb_contents
  run_lintian() {
    local out; out=$(lintian --fail-on error,warning --display-level '>=warning' "$deb" 2>&1); local rc=$?
    echo "$out"; [[ $rc -eq 0 ]]
  }
  step "lintian (errors and warnings fail; overrides: packaging/debian/lintian-overrides)" run_lintian
  # An installed binary (BIN) answers --version and --help (naming FLAG), its man page
  # has NAME and documents FLAG (MAN_FLAG as groff writes it), and dpkg -L (FILES) lists
  # the binary and its unit (UNIT.service).
  installed_binary() {
    local bin=$1 unit=$2 flag=$3 man_flag=$4 files=$5 version help man
    # (Whole outputs, then grep: grep -q on a pipe can kill the writer under pipefail.)
    version=$(/usr/bin/$bin --version) || { echo "$bin --version failed"; return 1; }
    grep -q "^$bin version " <<<"$version" || { echo "$bin --version: $version"; return 1; }
    help=$(/usr/bin/$bin --help) || { echo "$bin --help failed"; return 1; }
    grep -q -- "$flag" <<<"$help" || { echo "$bin --help lacks $flag"; return 1; }
    man=$(zcat /usr/share/man/man1/$bin.1.gz) || return 1
    grep -q '^\.SH NAME' <<<"$man" && grep -qF "$man_flag" <<<"$man" \
      || { echo "the $bin man page has no NAME or does not document $flag"; return 1; }
    grep -qx "/usr/lib/systemd/system/$unit.service" <<<"$files" || { echo "dpkg -L: no $unit.service"; return 1; }
    grep -qx "/usr/bin/$bin" <<<"$files" || { echo "dpkg -L: no /usr/bin/$bin"; return 1; }
  }
  dpkg_install() {
    dpkg -s agent-execution-exporter >/dev/null 2>&1 && { echo "agent-execution-exporter is already installed here: not touching it"; return 1; }
    dpkg -i "$deb" >/dev/null || return 1
    touch "$work/installed"
    local files; files=$(dpkg -L agent-execution-exporter)
    installed_binary agent_execution_exporter agent-execution-exporter --web.listen-address 'listen\-address' "$files" || return 1
    installed_binary agent_execution_rollup agent-execution-rollup --db.url-file 'url\-file' "$files" || return 1
    # Installed, not enabled (no wants/ link), like the exporter's unit.
    local link
    for link in /etc/systemd/system/*.wants/agent-execution-exporter.service /etc/systemd/system/*.wants/agent-execution-rollup.service; do
      [[ ! -e $link && ! -L $link ]] || { echo "dpkg -i enabled a unit: $link"; return 1; }
    done
  }
  step "dpkg -i: both binaries' --version, --help, man pages, files in place, no unit enabled" dpkg_install
  [[ -f $work/installed ]] && deb_installed=1
  example_environment() {
    # The unit's EnvironmentFile example, as systemd would pass it: the URL and flags parse.
    env -i bash -c 'set -a; . /usr/share/doc/agent-execution-exporter/examples/agent-execution-exporter.default
      exec /usr/bin/agent_execution_exporter $AGENT_EXPORTER_ARGS --version'
  }
  [[ $deb_installed -eq 1 ]] && step "the example EnvironmentFile's URL and flags parse" example_environment
  rollup_environment() {
    # The rollup unit's example: its URL and flags parse, through the URL file too
    # (--db.url-file, as with LoadCredential=), and the password never reaches the output.
    local ex=/usr/share/doc/agent-execution-exporter/examples out url rollup_url
    env -i bash -c 'set -a; . '"$ex"'/agent-execution-rollup.default
      exec /usr/bin/agent_execution_rollup $AGENT_ROLLUP_ARGS --version' >/dev/null || return 1
    rollup_url=$(env -i bash -c '. '"$ex"'/agent-execution-rollup.default; echo "$AGENT_ROLLUP_DB_URL"')
    url=$(env -i bash -c '. '"$ex"'/agent-execution-exporter.default; echo "$AGENT_EXPORTER_DB_URL"')
    [[ -n $rollup_url ]] || { echo "no AGENT_ROLLUP_DB_URL in the rollup example"; return 1; }
    # Its own role: never the exporter's URL or user (the exporter's role stays read-only).
    local user_of='s|^postgres(ql)?://([^:@/]*).*|\2|p'
    [[ $(sed -En "$user_of" <<<"$rollup_url") != "$(sed -En "$user_of" <<<"$url")" ]] \
      || { echo "the rollup example uses the exporter's role"; return 1; }
    printf '%s\n' "$rollup_url" >"$work/rollup-db-url"
    /usr/bin/agent_execution_rollup --db.url-file="$work/rollup-db-url" --version >/dev/null \
      || { echo "--db.url-file with the example URL failed"; return 1; }
    # The example's URL pointed at a closed port: one pass fails (exit 1) with a logged
    # connection error that does not hold the password.
    local closed; closed=$(sed -E 's|@[^/]*/|@127.0.0.1:1/|; s|sslmode=require|sslmode=disable\&connect_timeout=2|' <<<"$rollup_url")
    grep -q CHANGE-ME <<<"$closed" || { echo "the example URL has no CHANGE-ME password: $rollup_url"; return 1; }
    out=$(env -i AGENT_ROLLUP_DB_URL="$closed" timeout 20 /usr/bin/agent_execution_rollup --once 2>&1); local rc=$?
    [[ $rc -eq 1 ]] || { echo "--once against a closed port: exit $rc, want 1: $out"; return 1; }
    grep -q 'level=error' <<<"$out" || { echo "no error logged: $out"; return 1; }
    ! grep -q CHANGE-ME <<<"$out" || { echo "the password was logged: $out"; return 1; }
  }
  [[ $deb_installed -eq 1 ]] && step "the rollup's example EnvironmentFile parses, names its own role, --db.url-file works, password never logged" rollup_environment
  unit=/usr/lib/systemd/system/agent-execution-exporter.service
  rollup_unit=/usr/lib/systemd/system/agent-execution-rollup.service
  if [[ $deb_installed -eq 1 ]]; then
    step "systemd-analyze verify the installed units (exporter, rollup)" systemd-analyze verify "$unit" "$rollup_unit"
    security_score() { # unit
      local out score
      out=$(systemd-analyze security --offline=true "$1" 2>&1) || { echo "$out" | tail -5; return 1; }
      score=$(echo "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
      echo "exposure $score"
      # docs/deploy.md records it; 2.0 or less is systemd's "OK" band.
      awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "$out" | grep -E '^✗' | head -20; return 1; }
    }
    step "systemd-analyze security --offline=true: exporter unit exposure 2.0 or less (OK)" security_score "$unit"
    echo "# $(systemd-analyze security --offline=true "$unit" 2>&1 | grep 'Overall exposure')"
    step "systemd-analyze security --offline=true: rollup unit exposure 2.0 or less (OK)" security_score "$rollup_unit"
    echo "# $(systemd-analyze security --offline=true "$rollup_unit" 2>&1 | grep 'Overall exposure')"
    dpkg_remove() {
      dpkg -r agent-execution-exporter >/dev/null || return 1
      rm -f "$work/installed"
      local f
      for f in /usr/bin/agent_execution_exporter "$unit" /usr/bin/agent_execution_rollup "$rollup_unit"; do
        [[ ! -e $f ]] || { echo "$f left after dpkg -r"; return 1; }
      done
    }
    step "dpkg -r removes it" dpkg_remove
    [[ -f $work/installed ]] || deb_installed=0
  fi
fi

# ---- Kubernetes ----------------------------------------------------------------------
step "deploy/kubernetes: prometheusrule.yaml and dashboards/ up to date (make rules)" deploy/kubernetes/render.sh --check
step "npm packages for the Kubernetes check (scripts/install-npm-deps.sh)" scripts/install-npm-deps.sh tests/kubernetes
k8s_out=$(node tests/kubernetes/validate.mjs 2>&1); k8s_rc=$?
echo "$k8s_out" | sed 's/^/    /'
step "deploy/kubernetes: Kubernetes and prometheus-operator schemas, requirements ($(echo "$k8s_out" | tail -1))" test $k8s_rc -eq 0

step "deploy/check.sh (compose, Prometheus and Alertmanager configs)" deploy/check.sh
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
