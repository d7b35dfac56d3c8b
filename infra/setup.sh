#!/usr/bin/env bash
# Installs the tools a fresh machine lacks. Safe to run again: it only acts on
# what is missing. Needs root (or sudo) for the Debian packages.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
# Runs a command with its output kept aside: shown only when it fails
# (apt's progress lines and dpkg's chatter mean nothing when all goes well).
quietly() {
  local out rc=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || rc=$?
  ((rc == 0)) || { cat "$out" >&2; log "failed ($rc): $*"; }
  rm -f "$out"
  return "$rc"
}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

apt_missing=()
need() { # command debian-package
  command -v "$1" >/dev/null 2>&1 || apt_missing+=("$2")
}
need java openjdk-17-jre-headless
need mvn maven
need cmake cmake
need make make
need cc build-essential
need c++ g++
need go golang-go
need python3 python3
need patch patch
# The local broker's CA and certificate (infra/platform.sh).
need openssl openssl
need pkg-config pkg-config
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_missing+=(python3-venv)
# The dashboard's browser test drives Debian's Chromium through its driver.
need chromium chromium
need chromedriver chromium-driver
# FerretDB's other storage backend, only when asked for (infra/platform.sh).
if [[ ${SHELF_STORE_BACKEND:-sqlite} == postgresql ]]; then
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_missing+=(postgresql)
fi
# librdkafka 2.12's CMake build includes <curl/curl.h> even with curl off (an
# `#ifdef` on a macro its config.h defines as 0); only the header is used.
compgen -G "/usr/include/*curl/curl.h" >/dev/null || compgen -G "/usr/include/*/curl/curl.h" >/dev/null \
  || apt_missing+=(libcurl4-openssl-dev)

# librdkafka's TLS and SCRAM (rdkafka's `ssl` feature) link the system's OpenSSL.
[[ -f /usr/include/openssl/ssl.h ]] || apt_missing+=(libssl-dev)

if ((${#apt_missing[@]})); then
  log "installing Debian packages: ${apt_missing[*]} (about 1-3 min)"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  quietly $sudo apt-get update -qq
  quietly env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

command -v cargo >/dev/null || { log "Rust is missing: install it with rustup (https://rustup.rs)"; exit 1; }
if command -v rustup >/dev/null; then
  installed=$(rustup target list --installed)
  grep -qx wasm32-unknown-unknown <<<"$installed" || { log "adding the wasm32-unknown-unknown target"; rustup target add wasm32-unknown-unknown; }
  components=$(rustup component list --installed)
  grep -q '^clippy' <<<"$components" || rustup component add clippy
  grep -q '^rustfmt' <<<"$components" || rustup component add rustfmt
fi
# The notebook's and the dashboard's Python packages (notebooks/ and
# dashboard/requirements.txt), in a venv of the project's own, for
# notebooks/run.py, `shelf dashboard` and the tests that run them.
venv=${SHELF_HOME:-$ROOT/.local}/venv
requirements=("$ROOT/notebooks/requirements.txt" "$ROOT/dashboard/requirements.txt")
want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || $(cat "$venv/.requirements.sha256" 2>/dev/null) != "$want" ]]; then
  log "installing the notebook's and the dashboard's Python packages into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]/#/-r}"
  echo "$want" >"$venv/.requirements.sha256"
fi
log "tools present"
