#!/usr/bin/env bash
# Installs every build and test dependency on a Debian 12 machine; `make deps`
# (and so `make test`) runs it.  Idempotent: each step checks first and the
# script prints nothing when everything is already there.  Non-interactive
# (CI=true, no stdin): apt runs with DEBIAN_FRONTEND=noninteractive, pip with
# --no-input.  Needs root or password-less sudo only when it must install.
#
#   Debian packages  compilers, the C libraries (librdkafka, avro-c, libcurl,
#                    cJSON, libmicrohttpd, libwebsockets, hiredis), tools
#                    (kcat, clang tooling, cppcheck, promtool), a JRE and
#                    Maven when there is no java/mvn on PATH
#   Python modules   confluent-kafka with Avro/Schema Registry support,
#                    fastavro, requests, pytest (into the python3 on PATH)
#   Kafka broker     the jars of tests/kafka/pom.xml from Maven Central into
#                    tests/.cache/kafka-<version>/ (tests/harness/kafka.py)
#   tests/harness/deps.d/*.sh
#                    what one area's tests need beyond that (Redis, InfluxDB,
#                    Chromium, Helm...), each sourced in name order with
#                    the helpers below; same rules: check first, quiet when done
#
# `deps.sh --demo` installs only what `make demo` needs: the build
# dependencies (no Python modules, no Kafka jars, no deps.d).
set -euo pipefail
mode=${1:-test}
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log=$(mktemp -t weir-deps.XXXXXX)
trap 'rm -f "$log"' EXIT

say() { printf 'deps: %s\n' "$*"; }
# Runs a command with its output in $log; on failure shows the tail and exits.
quiet() {
  if ! "$@" >"$log" 2>&1 </dev/null; then
    say "FAILED: $*"
    tail -n 40 "$log" >&2
    exit 1
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n -E "$@"
  else
    say "need root (or password-less sudo) to run: $*" >&2
    exit 1
  fi
}

# ---------------------------------------------------------------- Debian
pkgs=(build-essential pkg-config librdkafka-dev libavro-dev libcurl4-openssl-dev
      libcjson-dev libmicrohttpd-dev libwebsockets-dev libhiredis-dev libcmocka-dev
      kcat clang clang-format clang-tidy cppcheck libclang-rt-14-dev prometheus
      zlib1g-dev ca-certificates)
if [ "$mode" != --demo ]; then
  command -v java >/dev/null || pkgs+=(default-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  # The stacks of a hung unit test (tests/harness/run-unit.sh).
  command -v gdb >/dev/null || pkgs+=(gdb)
fi
py_ok() {
  python3 - <<'EOF' 2>/dev/null
import confluent_kafka, fastavro, requests, pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer
EOF
}
command -v python3 >/dev/null || pkgs+=(python3)
# pip, when the Python modules must be installed (Debian's python3 needs python3-pip).
if ! command -v python3 >/dev/null || { ! py_ok && ! python3 -m pip --version >/dev/null 2>&1; }; then
  pkgs+=(python3-pip)
fi

missing=()
for p in "${pkgs[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  quiet as_root apt-get update -q
  quiet as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "$mode" = --demo ] && exit 0

# ---------------------------------------------------------------- Python
if ! py_ok; then
  pip_pkgs=("confluent-kafka[avro,schemaregistry]" fastavro requests pytest)
  say "installing Python packages: ${pip_pkgs[*]}"
  pip=(python3 -m pip install -q --progress-bar off)
  # A root install into a Debian-managed Python (PEP 668) needs the override;
  # a pyenv or venv Python does not, so try without it first.
  if ! "${pip[@]}" "${pip_pkgs[@]}" >"$log" 2>&1 </dev/null; then
    if grep -q externally-managed-environment "$log"; then
      quiet "${pip[@]}" --break-system-packages "${pip_pkgs[@]}"
    else
      say "FAILED: ${pip[*]} ${pip_pkgs[*]}"
      tail -n 40 "$log" >&2
      exit 1
    fi
  fi
  if ! py_ok; then
    say "Python packages installed but confluent_kafka.schema_registry.avro does not import" >&2
    exit 1
  fi
fi

# ---------------------------------------------------------------- Kafka jars
# The default version (kafka.version) and the Kafka 4 line (kafka4.version,
# WEIR_KAFKA_VERSION=4) that the e2e and cluster tests also run on.
for prop in kafka.version kafka4.version; do
  ver=$(sed -n "s:.*<$prop>\(.*\)</$prop>.*:\1:p" tests/kafka/pom.xml)
  if ! compgen -G "tests/.cache/kafka-$ver/kafka_2.13-*.jar" >/dev/null; then
    say "fetching Apache Kafka $ver broker jars from Maven Central"
    WEIR_KAFKA_VERSION=$ver quiet python3 tests/harness/kafka.py fetch
  fi
done

# ---------------------------------------------------------------- fragments
# apt_need PKG... installs the Debian packages not yet installed.
apt_need() {
  local want=() p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || want+=("$p")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${want[*]}"
  quiet as_root apt-get update -q
  quiet as_root apt-get install -y -q --no-install-recommends "${want[@]}"
}
for f in tests/harness/deps.d/*.sh; do
  [ -e "$f" ] || continue
  # shellcheck source=/dev/null
  . "$f"
done
exit 0
