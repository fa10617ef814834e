# Sourced by tests/harness/deps.sh (helpers: say, quiet, apt_need).
# The static archives the release service link uses (Makefile: SVC_STATIC):
# jansson (avro-c's schema parser) and lz4 (librdkafka) ship their .a only in
# the -dev packages; without them the Makefile falls back to the shared link.
apt_need libjansson-dev liblz4-dev
