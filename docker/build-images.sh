#!/usr/bin/env bash
# docker/build-images.sh — `make images`: one FROM scratch image per service,
# built with buildah (vfs storage, chroot isolation: no Docker engine, no
# daemon, no base image) from the binaries built on this machine.
#
#   docker/build-images.sh [service...]        default: all four
#
# The binaries: the release binaries of the build dir (docker/image.mk copies
# <build>/bin/weir-<service>; the Makefile's release link has the Debian
# libraries that ship static archives linked in and loads libcurl lazily).
#
# For each service it assembles build/images/<service>/rootfs — the stripped
# binary, the shared libraries it loads (ldd; plus libcurl and its
# libraries, loaded at the first HTTP request) at their paths, the dynamic
# loader, CA certificates, /etc/passwd and /etc/group naming user 65532,
# Weir's schemas in /schemas, an empty /tmp — then runs
# `buildah bud -f docker/<service>.Dockerfile` on it.
#
# Environment:
#   WEIR_BUILD          the build dir whose release binaries are used
#                       (default build/rel, as `make images`); copied to
#                       <WEIR_BUILD>/image/
#   WEIR_IMAGE_PREFIX   image name prefix (default ghcr.io/weir, as the chart)
#   WEIR_IMAGE_TAG      tag (default: the chart's appVersion)
#   WEIR_IMAGE_STORE    buildah storage root (default build/images/storage)
# Prints one line per image: name, uncompressed size, compressed size (the
# gzip layer of build/images/oci/weir-<service>, what a registry stores and a
# node pulls).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${WEIR_BUILD:-build/rel}
prefix=${WEIR_IMAGE_PREFIX:-ghcr.io/weir}
tag=${WEIR_IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/weir/Chart.yaml)}
store=${WEIR_IMAGE_STORE:-build/images/storage}
out=build/images
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(ingress compute enrichment sink)

command -v buildah >/dev/null || { echo "build-images: buildah not found (make deps installs it)" >&2; exit 1; }
mkdir -p "$out"
bah=(buildah --root "$PWD/$store" --runroot "$PWD/$out/run" --storage-driver vfs)

missing=()
for s in "${services[@]}"; do
  [ -f "services/$s/main.c" ] || missing+=("services/$s/main.c")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-images: no such service: ${missing[*]}" >&2
  exit 1
fi
if ! make --no-print-directory -f Makefile -f docker/image.mk B="$build" \
     "${services[@]/#/$build/image/weir-}" >"$out/link.log" 2>&1; then
  tail -n 30 "$out/link.log" >&2
  echo "build-images: the image link failed (log: $out/link.log)" >&2
  exit 1
fi
for s in "${services[@]}"; do
  [ -x "$build/image/weir-$s" ] || { echo "build-images: $build/image/weir-$s not built" >&2; exit 1; }
done

# Copies $1 (a file, following links) to the same path under rootfs $2.
put() {
  local dst="$2$1"
  mkdir -p "$(dirname "$dst")"
  cp -L "$1" "$dst"
}

for s in "${services[@]}"; do
  bin=$build/image/weir-$s
  ctx=$out/$s
  rootfs=$ctx/rootfs
  rm -rf "$ctx" && mkdir -p "$rootfs"/{usr/bin,etc/ssl/certs,schemas,tmp}
  chmod 1777 "$rootfs/tmp"
  strip --strip-unneeded -o "$rootfs/usr/bin/weir-$s" "$bin"
  # The libraries the loader resolves for this binary, at the paths it
  # found them (they are on its default search path: no ld.so.cache needed),
  # and the loader itself (PT_INTERP).
  libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
  # libcurl is loaded at its first call (common/link/curl_lazy.c), so ldd of the
  # binary does not list it: add it and what it needs.
  if grep -qa 'libcurl\.so\.4' "$bin"; then
    curl_so=$(/sbin/ldconfig -p | awk '$1 == "libcurl.so.4" && /x86-64/ && !found {print $NF; found = 1}')
    [ -n "$curl_so" ] || { echo "build-images: libcurl.so.4 not found (ldconfig -p)" >&2; exit 1; }
    libs="$libs $curl_so $(ldd "$curl_so" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')"
  fi
  interp=$(ldd "$bin" | awk '$1 ~ /^\/.*ld-linux/ {print $1}')
  [ -n "$interp" ] || { echo "build-images: $bin: no dynamic loader in ldd output" >&2; exit 1; }
  for f in $libs $interp; do put "$f" "$rootfs"; done
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > "$rootfs/etc/passwd"
  printf 'nonroot:x:65532:\n' > "$rootfs/etc/group"
  cp schemas/*.avsc "$rootfs/schemas/"
  # Reproducible file times (the layer digest depends on them).
  find "$rootfs" -exec touch -h -d @0 {} +

  name=$prefix/weir-$s:$tag
  "${bah[@]}" bud --isolation chroot --layers=false --quiet \
    --timestamp 0 -f "docker/$s.Dockerfile" -t "$name" "$ctx" >/dev/null
  # An OCI layout too (build/images/oci/weir-<service>), gzip level 9: what
  # a registry stores and a node pulls; push it with skopeo/buildah/crane.
  rm -rf "$out/oci/weir-$s" && mkdir -p "$out/oci"
  "${bah[@]}" push --quiet --compression-format gzip --compression-level 9 \
    "$name" "oci:$PWD/$out/oci/weir-$s:$tag" >/dev/null
  raw=$(du -sb --apparent-size "$rootfs" | cut -f1)
  gz=$(python3 -c 'import json,sys; d=sys.argv[1]; m=json.load(open(d+"/index.json"))["manifests"][0]["digest"].split(":")[1]; print(sum(l["size"] for l in json.load(open(d+"/blobs/sha256/"+m))["layers"]))' "$out/oci/weir-$s")
  printf 'image %-36s %6.2f MB uncompressed, %5.2f MB compressed (gzip -9 layer)\n' "$name" \
    "$(awk "BEGIN{print $raw/1e6}")" "$(awk "BEGIN{print $gz/1e6}")"
done
# The images these replaced, now untagged.
"${bah[@]}" rmi --prune >/dev/null 2>&1 || true
