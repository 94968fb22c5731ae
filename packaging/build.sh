#!/usr/bin/env bash
# The build steps of the container image, in one script that the Dockerfile runs and
# CI runs too (tests/packaging_test.sh), so the image's build path is proven
# on every change even where no Docker engine exists.
#
#   packaging/build.sh build-deps        the -dev packages (build stage: install-deps.sh build)
#   packaging/build.sh compile PREFIX    release build, installed under PREFIX (bin/)
#   packaging/build.sh package          the .deb (CPack, prefix /usr) into BUILD_DIR/packages
#   packaging/build.sh runtime-deps      apt-get the shared libraries only (runtime stage)
#   packaging/build.sh check PREFIX      every shared library the installed binaries
#                                        need comes from a runtime-deps package
set -euo pipefail
cd "$(dirname "$0")/.."

# Shared libraries of the runtime stage; curl serves the HEALTHCHECK (healthcheck.sh).
RUNTIME_PACKAGES=(libprometheus-cpp-core1.0 libcivetweb1 libpqxx-6.4 libpq5 zlib1g
  libssl3 libcrypt1 libyaml-cpp0.7
  libstdc++6 libgcc-s1 libc6 ca-certificates curl)

# Debian's hardening flags for what ships (the image, the .deb): fortified libc calls,
# stack protector, immediate binding (lintian: hardening-no-fortify-functions, -bindnow).
HARDENING_CXXFLAGS="-D_FORTIFY_SOURCE=2 -fstack-protector-strong"
HARDENING_LDFLAGS="-Wl,-z,relro -Wl,-z,now"

# Release build, tests off, hardened, installing under PREFIX.
configure() { # DIR PREFIX
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Release -DAEE_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="$HARDENING_CXXFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$HARDENING_LDFLAGS" \
    -DCMAKE_INSTALL_PREFIX="$2" >/dev/null
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

case "${1:-}" in
  # The build set of scripts/install-deps.sh (what `make build` installs; README.md's
  # "Building by hand" list).
  build-deps) scripts/install-deps.sh build ;;
  runtime-deps)
    apt_install "${RUNTIME_PACKAGES[@]}"
    rm -rf /var/lib/apt/lists/* 2>/dev/null || true
    ;;
  compile)
    prefix=${2:?usage: build.sh compile PREFIX}
    dir=${BUILD_DIR:-build-release}
    configure "$dir" "$prefix"
    cmake --build "$dir" -j "$(nproc)"
    cmake --install "$dir" >/dev/null
    ;;
  package)
    # The .deb (CPack; make package): the same release build, configured for /usr,
    # which the systemd units' paths then name; the exporter and the rollup writer.
    dir=${BUILD_DIR:-build-release}
    configure "$dir" /usr
    cmake --build "$dir" -j "$(nproc)" --target agent_execution_exporter agent_execution_rollup aee_packaging_files
    (cd "$dir" && cpack -G DEB >/dev/null)
    ls "$dir"/packages/*.deb
    ;;
  check)
    prefix=${2:?usage: build.sh check PREFIX}
    # The runtime stage installs RUNTIME_PACKAGES and, through apt, their
    # dependencies: every library the binaries load must come from that closure.
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "${RUNTIME_PACKAGES[@]}" 2>/dev/null | grep -v '^ ' | sort -u)
    status=0
    shopt -s nullglob
    bins=("$prefix"/bin/*)
    [[ ${#bins[@]} -gt 0 ]] || { echo "check: no binaries under $prefix/bin" >&2; exit 1; }
    for bin in "${bins[@]}"; do
      while read -r lib; do
        [[ -z "$lib" ]] && continue
        owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true)
        pkg=${owner%%:*}
        if [[ -z "$pkg" ]]; then echo "check: $bin needs $lib, owned by no package" >&2; status=1; continue; fi
        if ! grep -qx "$pkg" <<<"$closure"; then
          echo "check: $bin needs $lib from $pkg, which the runtime stage does not install" >&2; status=1
        fi
      done < <(ldd "$bin" | awk '/=>/ { print $3 }')
      # The binary loads and runs in this environment (every binary answers --help).
      "$bin" --help >/dev/null || { echo "check: $bin --help failed" >&2; status=1; }
      echo "check: $(basename "$bin"): $(ldd "$bin" | grep -c '=>') shared libraries, all from runtime packages"
    done
    exit $status
    ;;
  *) echo "usage: packaging/build.sh build-deps|compile PREFIX|package|runtime-deps|check PREFIX" >&2; exit 2 ;;
esac
