# Sourced by tests/harness/deps.sh: a real Redis for the enrichment tests
# (tests/harness/redis.py starts it; the tests talk RESP themselves, so no
# Python Redis package is needed).
apt_need redis-server
