# Sourced by tests/harness/deps.sh (helpers: say, quiet, apt_need).
# make bench-compute builds its Kafka Streams peer (tests/bench/kstreams/)
# with Maven, which needs a JDK's javac, not only the JRE the broker runs on.
command -v javac >/dev/null || apt_need openjdk-17-jdk-headless
