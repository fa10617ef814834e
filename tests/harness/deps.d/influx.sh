# deps.d/influx.sh — InfluxDB 1.x (Debian `influxdb`) for the sink's
# integration tests (tests/harness/influx.py starts its own influxd on free
# loopback ports with a temp dir).  Sourced by deps.sh (apt_need, as_root, say).
#
# The package's maintainer scripts would start the system service (port 8086,
# /var/lib/influxdb), which the tests neither need nor want: a policy-rc.d
# that answers 101 ("action forbidden") keeps invoke-rc.d from starting it
# during the install; afterwards the unit is disabled and stopped where
# systemd runs (on CI there is no systemd and nothing was started).
if ! command -v influxd >/dev/null 2>&1; then
  _weir_prc=/usr/sbin/policy-rc.d
  _weir_prc_made=0
  if [ ! -e "$_weir_prc" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $_weir_prc && chmod 755 $_weir_prc"
    _weir_prc_made=1
  fi
  apt_need influxdb
  [ "$_weir_prc_made" = 1 ] && as_root rm -f "$_weir_prc"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now influxdb >/dev/null 2>&1 || true
  fi
  unset _weir_prc _weir_prc_made
fi
