# deps.d/deploy.sh — what the shipping checks need (sourced by deps.sh with
# apt_need, as_root, say, quiet):
#   buildah    `make images` and tests/integration/test_images.py (vfs
#              storage, chroot isolation: no daemon, no base image)
#   Go         tests/deploy (make deploy-check) builds a Go program on Helm,
#              kustomize and k8s.io/api; its go.mod asks for Go 1.26.  A go
#              >= 1.21 on PATH fetches that toolchain itself through the Go
#              module proxy (GOTOOLCHAIN=auto).  Debian 12's golang-go is
#              1.19, too old to do so: then the toolchain module
#              golang.org/toolchain is downloaded into tests/.cache/go/mod
#              with that old go, and tests/deploy/run.sh uses it.
#   promtool   already in deps.sh's list (prometheus).
apt_need buildah

_weir_go_minor() { # minor version of the go on PATH, or 0
  local v
  v=$(go env GOVERSION 2>/dev/null) || { echo 0; return; }
  v=${v#go1.}; echo "${v%%.*}"
}
if ! command -v go >/dev/null 2>&1; then
  apt_need golang-go
fi
if [ "$(_weir_go_minor)" -lt 21 ]; then
  _weir_tc=$(sed -n 's/^go \([0-9.]*\)$/\1/p' tests/deploy/go.mod)
  _weir_arch=$(go env GOARCH)
  if ! compgen -G "tests/.cache/go/mod/golang.org/toolchain@v0.0.1-go${_weir_tc}.linux-${_weir_arch}/bin/go" >/dev/null; then
    say "fetching the Go ${_weir_tc} toolchain module (the go on PATH is too old for tests/deploy)"
    quiet env GOMODCACHE="$PWD/tests/.cache/go/mod" GOFLAGS=-modcacherw GO111MODULE=on \
      go mod download "golang.org/toolchain@v0.0.1-go${_weir_tc}.linux-${_weir_arch}"
    # A module zip keeps no file modes: make the toolchain's programs
    # executable again (as go's own toolchain switch does).
    _weir_d="tests/.cache/go/mod/golang.org/toolchain@v0.0.1-go${_weir_tc}.linux-${_weir_arch}"
    chmod -R u+w "$_weir_d" && chmod +x "$_weir_d"/bin/* "$_weir_d"/pkg/tool/*/*
    unset _weir_d
  fi
  unset _weir_tc _weir_arch
fi
unset -f _weir_go_minor
