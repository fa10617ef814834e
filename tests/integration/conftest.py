"""Session fixtures for the integration tests: a real Apache Kafka broker
(KRaft, tests/harness/kafka.py), the Schema Registry stub
(tests/harness/registry.py), uniquely named topics, and the location of the
C build.  At the end the pass/fail counts go to build/results/integration
for tests/harness/run-all.sh.

Fixtures:
    kafka          the session's broker (kafka.Broker): .bootstrap, .create_topic(),
                   .kill()/.start()/.restart(), .version_string
    kafka_factory  makes extra brokers for destructive tests; all closed at test end
    kafka_cluster  the session's secured 3-node cluster (kafka_cluster.Cluster):
                   SASL_SSL SCRAM-SHA-512 and mTLS listeners, ACLs enforced;
                   .client_config(user, via), .client_env(user, via), .add_acls(),
                   .leader_of(), .coordinator_of(), .kill(n)/.start_node(n)/.pause(n)
    kafka_cluster_factory  kafka_cluster_factory(nodes=1, **kw) -> a started
                   Cluster of its own (a test may break it); closed at test end
    registry       the session's Schema Registry (registry.Registry): .url
    topic          a function: topic(prefix="t", partitions=1, config=None) ->
                   a new topic's unique name, created on `kafka`
    weir_build     Path of the C build (env WEIR_BUILD, default build/rel)
"""

import itertools
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "harness"))

import kafka as kafka_harness  # noqa: E402  (path set above)
import kafka_cluster as cluster_harness  # noqa: E402
import registry as registry_harness  # noqa: E402


def pytest_configure(config):
    # A CI timeout or `kill` sends SIGTERM, which would end Python without
    # finalizers or atexit; as KeyboardInterrupt, pytest tears fixtures down
    # (stopping the broker and removing its dir) before it exits.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def _term(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")
        signal.signal(signal.SIGTERM, _term)


@pytest.fixture(scope="session")
def kafka(request):
    broker = kafka_harness.Broker()
    try:
        broker.start()
        # Once per session, visible with -q too: written to the terminal
        # with pytest's output capture suspended.
        line = (f"kafka broker: {broker.version_string} at {broker.bootstrap} "
                f"(ready in {broker.ready_seconds:.1f} s)")
        pm = request.config.pluginmanager
        tr, capman = pm.get_plugin("terminalreporter"), pm.get_plugin("capturemanager")
        if tr is not None and capman is not None:
            with capman.global_and_fixture_disabled():
                tr.write_line("")
                tr.write_line(line)
        else:
            print(line)
        yield broker
    finally:
        broker.close()


@pytest.fixture
def kafka_factory():
    """Dedicated brokers a test may kill, restart or misconfigure without
    affecting the session's broker: kafka_factory(config={...}) -> started."""
    made = []

    def make(**kw):
        b = kafka_harness.Broker(**kw)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.close()


def _announce(request, line):
    # Visible with -q too: written with pytest's output capture suspended.
    pm = request.config.pluginmanager
    tr, capman = pm.get_plugin("terminalreporter"), pm.get_plugin("capturemanager")
    if tr is not None and capman is not None:
        with capman.global_and_fixture_disabled():
            tr.write_line("")
            tr.write_line(line)
    else:
        print(line)


@pytest.fixture(scope="session")
def kafka_cluster(request):
    c = cluster_harness.Cluster(nodes=3)
    try:
        c.start()
        _announce(request, f"kafka cluster: {c.version_string} at {c.bootstrap} "
                           f"(ready in {c.ready_seconds:.1f} s)")
        yield c
    finally:
        c.close()


@pytest.fixture
def kafka_cluster_factory():
    """Secured clusters a test owns: kafka_cluster_factory(nodes=1, **kw)."""
    made = []

    def make(nodes=1, **kw):
        c = cluster_harness.Cluster(nodes=nodes, **kw)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def registry():
    with registry_harness.Registry() as r:
        yield r


_seq = itertools.count(1)


@pytest.fixture
def topic(kafka, request):
    """topic(prefix=None, partitions=1, config=None) creates a topic with a
    name unique in the session (test name, counter, random suffix; legal
    Kafka characters only) and returns the name."""
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in request.node.name)[:80]

    def make(prefix=None, partitions=1, config=None):
        name = f"{prefix or base}-{next(_seq)}-{uuid.uuid4().hex[:6]}"
        return kafka.create_topic(name, partitions=partitions, config=config)

    return make


@pytest.fixture(scope="session")
def weir_build():
    return REPO / os.environ.get("WEIR_BUILD", "build/rel")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    # Errors in fixtures (e.g. the broker not starting) are failures too.
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    if exitstatus not in (0, 1, 5) and failed == 0:  # interrupted or internal error
        failed = 1
    out = REPO / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    # WEIR_RESULTS_SUITE: a second session (the Kafka 4 run) counts apart.
    (out / os.environ.get("WEIR_RESULTS_SUITE", "integration")).write_text(
        f"{passed} {failed}\n")
