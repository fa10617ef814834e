#!/usr/bin/env python3
"""A secured Apache Kafka KRaft cluster on loopback for the tests: N combined
broker+controller nodes (default 3), replication, TLS, SCRAM, mTLS and ACLs,
as production clusters (Strimzi, MSK, Confluent Cloud, Aiven) run them.

    from kafka_cluster import Cluster
    with Cluster(nodes=3) as c:             # CA and certs, format, start, ready
        c.create_topic("t", partitions=2)   # RF 3, min ISR 2
        c.add_acls("weir-ingress", [("topic", "t", "literal", ["Write", "Describe"])])
        conf = c.client_config("weir-ingress")          # SASL_SSL SCRAM-SHA-512
        conf = c.client_config("weir-sink", via="mtls")  # SSL with a client cert
        env = c.client_env("weir-compute")  # KAFKA_SECURITY_PROTOCOL=... for a service
        c.kill(c.leader_of("t", 0)); c.start_node(n)     # kill -9 and back
        c.pause(n); c.resume(n)                           # SIGSTOP / SIGCONT

What it is made of, and why:
- Each node is a kafka.Broker (tests/harness/kafka.py) with its own
  server.properties: the jars, port picking, JVM flags, class-data sharing,
  PDEATHSIG and kill/stop semantics are that module's.  The Kafka version is
  kafka.py's (WEIR_KAFKA_VERSION, default tests/kafka/pom.xml's).
- Three listeners per node: SASL (SASL_SSL, SCRAM-SHA-512, no client cert),
  MTLS (SSL, client certificate required; also the inter-broker listener)
  and CONTROLLER (SSL, client certificate required).  Brokers and
  controllers authenticate to each other with their certificates.
- A throwaway CA and one certificate per node and per principal are made
  with openssl when the cluster is created (EC P-256: fast to generate, PEM
  files both the JVM (ssl.keystore.type=PEM) and librdkafka read).  A
  certificate's CN is its principal (ssl.principal.mapping.rules), so
  `weir-sink` is the same principal over SCRAM and over mTLS and one set of
  ACLs covers both.
- SCRAM-SHA-512 credentials for every user are written at format time
  (kafka-storage format --add-scram), so clients authenticate from the
  first second; set_password() rotates one through the admin API.
- StandardAuthorizer with allow.everyone.if.no.acl.found=false: only the
  brokers (broker-N) and `admin` are super users; everything else needs ACLs.
- replication factor N (at most 3), min.insync.replicas min(2, N), the same
  for the offsets and transaction state topics; replica.lag.time.max.ms is
  short (5 s) so an ISR shrink happens within a test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import kafka as kh  # tests/harness/kafka.py

SERVICES = ("weir-ingress", "weir-compute", "weir-enrichment", "weir-sink")
ADMIN = "admin"


def java_hash(s: str) -> int:
    """Java's String.hashCode (UTF-16 code units), as a signed 32-bit int."""
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def coordinator_partition(key: str, partitions: int) -> int:
    """The __transaction_state / __consumer_offsets partition of a
    transactional id / group id (Kafka's Utils.abs(key.hashCode) % n)."""
    h = java_hash(key)
    h = 0 if h == -(1 << 31) else abs(h)
    return h % partitions


class Pki:
    """A CA and certificates under `dir`, made with the openssl CLI."""

    def __init__(self, d: Path):
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        self.ca = d / "ca.pem"
        self._ca_key = d / "ca.key"
        self._run("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                  "-subj", "/CN=weir-test-ca", "-keyout", str(self._ca_key), "-out", str(self.ca))

    def _run(self, *args: str) -> None:
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=self.dir)
        if r.returncode != 0:
            raise kh.BrokerError(f"openssl {' '.join(args[:2])} failed: {r.stderr[-1500:]}")

    def issue(self, cn: str, server: bool = False, days: int = 2) -> tuple[Path, Path]:
        """(certificate, PKCS#8 key) for CN=cn, signed by the CA; a server
        certificate names 127.0.0.1 and localhost (hostname verification
        is on, as in production)."""
        key, csr, crt = (self.dir / f"{cn}.{x}" for x in ("key", "csr", "pem"))
        self._run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(csr))
        ext = self.dir / f"{cn}.ext"
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={'serverAuth,clientAuth' if server else 'clientAuth'}\n"
            + ("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:127.0.0.1\n" if server else ""))
        self._run("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey",
                  str(self._ca_key), "-CAcreateserial", "-days", str(days), "-out", str(crt),
                  "-extfile", str(ext))
        csr.unlink()
        ext.unlink()
        return crt, key


class ClusterNode(kh.Broker):
    """One combined broker+controller node of a Cluster."""

    def __init__(self, cluster: "Cluster", node_id: int, config: dict):
        super().__init__(workdir=cluster.dir / f"node-{node_id}", heap=cluster.heap,
                         config=config, stop_at_exit=False)
        self.cluster = cluster
        self.node_id = node_id
        self.mtls_port = kh.free_port()
        self.paused = False

    def __repr__(self) -> str:
        return f"<ClusterNode {self.node_id} pid={self.pid} sasl={self.port} mtls={self.mtls_port}>"

    def _write_files(self) -> None:
        super()._write_files()  # log4j configuration and a server.properties replaced here
        c = self.cluster
        ks = self.dir / "keystore.pem"  # the JVM's PEM keystore: key then certificate
        crt, key = c.certs[f"broker-{self.node_id}"]
        ks.write_text(key.read_text() + crt.read_text())
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": c.voters,
            "listeners": f"SASL://127.0.0.1:{self.port},MTLS://127.0.0.1:{self.mtls_port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL://127.0.0.1:{self.port},"
                                    f"MTLS://127.0.0.1:{self.mtls_port}",
            "listener.security.protocol.map": "SASL:SASL_SSL,MTLS:SSL,CONTROLLER:SSL",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "MTLS",
            "log.dirs": str(self.dir / "data"),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(ks),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(c.pki.ca),
            "ssl.client.auth": "required",
            "listener.name.sasl.ssl.client.auth": "none",
            "ssl.principal.mapping.rules": "RULE:^CN=(.*)$/$1/,DEFAULT",
            # PLAIN too: librdkafka before 2.6.1 (Debian's 2.0.2) fails
            # SCRAM against Kafka 4 (see Cluster.sasl_via).
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            "listener.name.sasl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl.plain.sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                + " ".join(f'user_{u}="{pw}"' for u, pw in c.passwords.items()) + ";",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": ";".join([f"User:broker-{i}" for i in c.node_ids] + [f"User:{ADMIN}"]),
        }
        props.update(self.config)
        (self.dir / "server.properties").write_text(
            "".join(f"{k}={v}\n" for k, v in props.items()))

    def _format_cmd(self) -> list[str]:
        self._write_files()
        scram = []
        for user, pw in self.cluster.passwords.items():
            scram += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={pw}]"]
        return self._java(["kafka.tools.StorageTool", "format",
                           f"--cluster-id={self.cluster.cluster_id}",
                           "-c", str(self.dir / "server.properties"), *scram],
                          self._cds_flags(dump=False))

    def format_storage(self) -> None:
        r = subprocess.run(self._format_cmd(), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise kh.BrokerError(f"node {self.node_id}: kafka-storage format failed "
                                 f"(exit {r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        self._formatted = True

    def launch(self) -> float:
        """Starts the JVM without waiting; returns the start time."""
        self._write_files()
        cmd = self._java(["kafka.Kafka", str(self.dir / "server.properties")], self._cds_flags())
        if self.die_with_parent and kh.shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "SIGKILL", *cmd]
        t0 = time.monotonic()
        with open(self.stdout_file, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir)
        self.paused = False
        return t0

    def start(self, timeout: float = 90.0) -> "ClusterNode":
        # No moving to other ports on a bind error (kafka.Broker does):
        # the other nodes' controller.quorum.voters name these.
        with self._lock:
            if self.running:
                return self
            if not self._formatted:
                self.format_storage()
            t0 = self.launch()
            try:
                self._wait_ready(t0, timeout)
            except BaseException:
                self.kill()
                raise
            self.ready_seconds = time.monotonic() - t0
            self._ever_started = True
            return self

    def _wait_ready(self, t0: float, timeout: float) -> None:
        """Until the cluster's metadata, asked of this node, lists it
        (registered and unfenced)."""
        deadline = t0 + timeout
        admin, last = None, "port not open"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise kh.BrokerError(f"node {self.node_id} exited with status "
                                     f"{self.proc.returncode} during start-up\n{self.log_tail()}")
            if not kh._port_open(self.port):
                time.sleep(0.1)
                continue
            if admin is None:
                admin = self.admin(fresh=True)
            try:
                md = admin.list_topics(timeout=min(3.0, max(0.1, deadline - time.monotonic())))
                if self.node_id in md.brokers:
                    return
                last = f"metadata lists brokers {sorted(md.brokers)}"
            except Exception as e:  # KafkaException: still starting
                last = str(e)
            time.sleep(0.1)
        raise kh.BrokerError(f"node {self.node_id} not ready after {timeout:.0f} s ({last})\n"
                             f"{self.log_tail()}")

    def admin(self, fresh: bool = False):
        """An AdminClient as `admin` on this node only."""
        from confluent_kafka.admin import AdminClient
        if fresh or self._admin is None:
            conf = self.cluster.client_config(ADMIN, bootstrap=f"127.0.0.1:{self.port}")
            conf.update({"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
                         "log_level": 0, "error_cb": lambda err: None})
            self._admin = AdminClient(conf)
        return self._admin

    def kill(self) -> None:
        self.resume()  # a stopped JVM dies of SIGKILL too, but keep the flag true
        super().kill()

    def stop(self, grace: float = 20.0):
        self.resume()
        return super().stop(grace)

    def pause(self) -> None:
        if self.running:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused and self.running:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False


_live: "set[Cluster]" = set()


@kh.atexit.register
def _close_all() -> None:
    for c in list(_live):
        with contextlib.suppress(Exception):
            c.close()


class Cluster:
    """N-node secured KRaft cluster; see the module's docstring.

    nodes        1..N combined nodes (1: fast secured tests, no replication)
    users        SCRAM users besides `admin` (default: the four services);
                 each also gets a client certificate
    config       server properties for every node, over the cluster's
    heap         each JVM's -Xmx
    """

    def __init__(self, nodes: int = 3, users=SERVICES, config: dict | None = None,
                 heap: str = "384m", workdir: str | os.PathLike | None = None,
                 replica_lag_ms: int = 5000):
        self.n = nodes
        self._own_dir = workdir is None
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="weir-kcluster-"))
        self.heap = heap
        self.node_ids = list(range(1, nodes + 1))
        self.cluster_id = kh.random_cluster_id()
        self.passwords = {u: secrets.token_urlsafe(18) for u in (ADMIN, *users)}
        self._admin = None
        _live.add(self)
        self.pki = Pki(self.dir / "pki")
        self.certs = {f"broker-{i}": self.pki.issue(f"broker-{i}", server=True)
                      for i in self.node_ids}
        for u in self.passwords:
            self.certs[u] = self.pki.issue(u)
        rf = min(3, nodes)
        isr = min(2, nodes)
        conf = {
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "replica.lag.time.max.ms": replica_lag_ms,
            # Followers fetch often enough not to look lagging on a busy
            # 2-core machine; a fenced or paused node is noticed soon.
            "replica.fetch.wait.max.ms": 200,
            "controller.quorum.election.timeout.ms": 1000,
            "controller.quorum.fetch.timeout.ms": 2000,
            "broker.session.timeout.ms": 4000,
            "num.network.threads": 1,
            "num.io.threads": 2,
            "num.replica.fetchers": 1,
            "background.threads": 2,
        }
        conf.update(config or {})
        self.config = {k: str(v) for k, v in conf.items()}
        self.nodes = {i: ClusterNode(self, i, self.config) for i in self.node_ids}
        self.version = next(iter(self.nodes.values())).version
        self.ready_seconds: float | None = None

    # ------------------------------------------------------------ addresses
    @property
    def voters(self) -> str:
        return ",".join(f"{i}@127.0.0.1:{n.controller_port}" for i, n in self.nodes.items())

    @property
    def bootstrap(self) -> str:
        """SASL_SSL (SCRAM) listeners of every node."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes.values())

    @property
    def bootstrap_mtls(self) -> str:
        return ",".join(f"127.0.0.1:{n.mtls_port}" for n in self.nodes.values())

    @property
    def version_string(self) -> str:
        return f"Apache Kafka {self.version} (KRaft, {self.n} nodes, SASL_SSL+mTLS, ACLs)"

    def __repr__(self) -> str:
        return f"<Cluster {self.version_string} {self.bootstrap}>"

    # ------------------------------------------------------------ clients
    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def sasl_via(self) -> str:
        """The SASL mechanism Weir's librdkafka 2.0.2 can use here: "scram"
        up to Kafka 3.9; "plain" on Kafka 4, whose brokers check the SCRAM
        nonce strictly (RFC 5802) and refuse the client-final-message of
        librdkafka before 2.6.1 as invalid credentials (librdkafka PR #4895;
        test_kafka_protocols.py shows it)."""
        return "scram" if self.major < 4 else "plain"

    def client_config(self, user: str, via: str = "scram", bootstrap: str | None = None) -> dict:
        """librdkafka properties for `user`: via="scram" (SASL_SSL,
        SCRAM-SHA-512), "plain" (SASL_SSL, PLAIN; the password given at
        start, not rotated by set_password) or "mtls" (SSL with the user's
        certificate)."""
        if via in ("scram", "plain"):
            return {"bootstrap.servers": bootstrap or self.bootstrap,
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": "SCRAM-SHA-512" if via == "scram" else "PLAIN",
                    "sasl.username": user, "sasl.password": self.passwords[user],
                    "ssl.ca.location": str(self.pki.ca)}
        if via == "mtls":
            crt, key = self.certs[user]
            return {"bootstrap.servers": bootstrap or self.bootstrap_mtls,
                    "security.protocol": "SSL", "ssl.ca.location": str(self.pki.ca),
                    "ssl.certificate.location": str(crt), "ssl.key.location": str(key)}
        raise ValueError(f"via={via!r}: scram, plain or mtls")

    def client_env(self, user: str, via: str = "scram") -> dict:
        """The same as KAFKA_<PROPERTY> variables for a Weir service."""
        return {"KAFKA_" + k.upper().replace(".", "_"): v
                for k, v in self.client_config(user, via).items()}

    def admin(self, fresh: bool = False):
        """An AdminClient as the super user `admin` (all nodes bootstrap)."""
        from confluent_kafka.admin import AdminClient
        if fresh or self._admin is None:
            conf = self.client_config(ADMIN)
            conf.update({"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
                         "log_level": 0, "error_cb": lambda err: None})
            self._admin = AdminClient(conf)
            # Learn the brokers first: librdkafka retires its bootstrap
            # connections once it has, failing what was sent on them.
            try:
                self._admin.list_topics(timeout=30)
            except Exception:  # noqa: BLE001 - no broker up yet: callers see it themselves
                pass
        return self._admin

    # ------------------------------------------------------------ life cycle
    def start(self, timeout: float = 120.0) -> "Cluster":
        """Formats every node (first time, in parallel), starts every JVM
        that is not running, and waits until each is registered."""
        t0 = time.monotonic()
        fmt = [(n, subprocess.Popen(n._format_cmd(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
               for n in self.nodes.values() if not n._formatted]
        for n, p in fmt:
            out, _ = p.communicate(timeout=120)
            if p.returncode != 0:
                raise kh.BrokerError(f"node {n.node_id}: kafka-storage format failed "
                                     f"(exit {p.returncode}):\n{out[-2000:]}")
            n._formatted = True
        starts = {n.node_id: n.launch() for n in self.nodes.values() if not n.running}
        try:
            for i, ts in starts.items():
                n = self.nodes[i]
                n._wait_ready(ts, timeout)
                n.ready_seconds = time.monotonic() - ts
                n._ever_started = True
        except BaseException:
            for i in starts:
                self.nodes[i].kill()
            raise
        self.ready_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        for n in self.nodes.values():
            n.stop()
        self._admin = None

    def close(self) -> None:
        """Stops every node (SIGTERM to all at once, SIGKILL after 5 s: the
        last nodes cannot shut down in a controlled way without a quorum,
        and the data is removed anyway) and removes the temp dir."""
        for n in self.nodes.values():
            n.resume()
            if n.running:
                with contextlib.suppress(ProcessLookupError):
                    n.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for n in self.nodes.values():
            with contextlib.suppress(Exception):
                if n.proc is not None:
                    n.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for n in self.nodes.values():
            with contextlib.suppress(Exception):
                n.stop(grace=1)  # reaps; SIGKILL if still running
        self._admin = None
        if self._own_dir:
            kh.shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def node(self, i: int) -> ClusterNode:
        return self.nodes[i]

    def kill(self, i: int) -> None:
        """kill -9 node i (data kept; start_node(i) brings it back)."""
        self.nodes[i].kill()

    def stop_node(self, i: int) -> None:
        """SIGTERM: controlled shutdown (leadership moved away first)."""
        self.nodes[i].stop()

    def start_node(self, i: int, timeout: float = 90.0) -> float:
        """Starts node i again; returns its seconds to ready."""
        self.nodes[i].start(timeout)
        return self.nodes[i].ready_seconds

    def pause(self, i: int) -> None:
        self.nodes[i].pause()

    def resume(self, i: int) -> None:
        self.nodes[i].resume()

    # ------------------------------------------------------------ metadata
    def _metadata(self, topic: str | None = None):
        return self.admin().list_topics(topic=topic, timeout=10)

    def topic_config(self, name: str, timeout: float = 15.0) -> dict:
        """The topic's effective configuration as {name: value}.  A broker
        can answer DescribeConfigs with UNKNOWN_TOPIC_OR_PART for a moment
        after every broker listed the topic in its metadata (seen once in
        CI on Kafka 3.9.1, right after create_topic()): asked again until
        `timeout`."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import ConfigResource
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                entries = self.admin().describe_configs([res])[res].result(timeout=30)
                return {k: v.value for k, v in entries.items()}
            except KafkaException as e:
                if (e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART
                        or time.monotonic() > deadline):
                    raise
                time.sleep(0.2)

    def partition(self, topic: str, partition: int, timeout: float = 10.0):
        """The PartitionMetadata (leader, replicas, isrs) of topic-partition."""
        # Each broker learns of a new topic from the metadata log on its
        # own: the one asked may not know it yet for a moment.
        deadline = time.monotonic() + timeout
        while True:
            tm = self._metadata(topic).topics.get(topic)
            if tm is not None and tm.error is None and partition in tm.partitions:
                return tm.partitions[partition]
            if time.monotonic() > deadline:
                raise kh.BrokerError(f"{topic}-{partition}: not in the metadata after "
                                     f"{timeout} s ({tm.error if tm else 'no topic'})")
            time.sleep(0.1)

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """Node id leading topic-partition now (-1: none)."""
        return self.partition(topic, partition).leader

    def coordinator_of(self, key: str, kind: str = "transaction") -> int:
        """Node id of the transaction (kind="transaction") or group
        (kind="group") coordinator of `key`: the leader of its partition of
        __transaction_state / __consumer_offsets."""
        topic = "__transaction_state" if kind == "transaction" else "__consumer_offsets"
        md = self._metadata(topic).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            raise kh.BrokerError(f"{topic} does not exist yet")
        return self.partition(topic, coordinator_partition(key, len(md.partitions))).leader

    def under_replicated(self) -> list[tuple[str, int]]:
        """Partitions whose ISR is not every replica (internal topics too)."""
        out = []
        for t, tm in self._metadata().topics.items():
            for p, pm in tm.partitions.items():
                if set(pm.isrs) != set(pm.replicas) or pm.leader < 0:
                    out.append((t, p))
        return out

    def wait_fully_replicated(self, timeout: float = 60.0) -> float:
        """Until no partition is under-replicated (what an operator waits
        for between two broker restarts); returns the seconds waited."""
        t0 = time.monotonic()
        while (bad := self.under_replicated()):
            if time.monotonic() - t0 > timeout:
                raise kh.BrokerError(f"still under-replicated after {timeout} s: {bad[:5]}")
            time.sleep(0.2)
        return time.monotonic() - t0

    # ------------------------------------------------------------ topics
    def create_topic(self, name: str, partitions: int = 1, config: dict | None = None,
                     replication: int | None = None, timeout: float = 30.0) -> str:
        """Creates a topic (replication factor: the cluster's default) and
        waits until every partition has a leader.  Returns the name."""
        from confluent_kafka.admin import NewTopic
        nt = NewTopic(name, num_partitions=partitions,
                      replication_factor=replication or min(3, self.n),
                      config={str(k): str(v) for k, v in (config or {}).items()})
        from confluent_kafka import KafkaError, KafkaException
        # A fresh client's first request can go to a bootstrap connection
        # that librdkafka (2.10+) retires once it learns the brokers'
        # ids: _DESTROY_BROKER, the request may or may not have reached
        # the controller.  Ask again; "already exists" then means done.
        transient = {KafkaError._DESTROY_BROKER, KafkaError._TRANSPORT,
                     KafkaError._TIMED_OUT}
        for attempt in range(5):
            try:
                self.admin().create_topics([nt], operation_timeout=timeout,
                                           request_timeout=timeout)[name].result(
                                               timeout=timeout + 5)
                break
            except KafkaException as e:
                code = e.args[0].code()
                if attempt and code == KafkaError.TOPIC_ALREADY_EXISTS:
                    break
                if code not in transient or attempt == 4:
                    raise
                time.sleep(0.2)
        # Until every running broker knows it: each learns of a new topic
        # from the metadata log on its own, and a client asking one that
        # does not yet would take the topic for missing.
        deadline = time.monotonic() + timeout
        while True:
            mds = [n.admin().list_topics(topic=name, timeout=10).topics.get(name)
                   for n in self.nodes.values() if n.running and not n.paused]
            if all(md is not None and md.error is None and len(md.partitions) == partitions
                   and all(p.leader >= 0 and p.error is None for p in md.partitions.values())
                   for md in mds):
                return name
            if time.monotonic() > deadline:
                raise kh.BrokerError(f"topic {name}: partitions without a leader after {timeout} s")
            time.sleep(0.05)

    def delete_topic(self, name: str, timeout: float = 30.0) -> None:
        self.admin().delete_topics([name], operation_timeout=timeout)[name].result(timeout + 5)

    # ------------------------------------------------------------ security
    def set_password(self, user: str, password: str, iterations: int = 4096) -> None:
        """Creates or rotates `user`'s SCRAM-SHA-512 credential."""
        from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                           UserScramCredentialUpsertion)
        up = UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, iterations),
            password.encode())
        for f in self.admin().alter_user_scram_credentials([up]).values():
            f.result(timeout=30)
        self.passwords[user] = password

    @staticmethod
    def acl_bindings(principal: str, rules, host: str = "*", deny: bool = False) -> list:
        """AclBindings for `principal` (a user name, or "User:name") from
        rules [(resource, name, pattern, [operations])]: resource topic,
        group, transactional_id or cluster; pattern literal or prefixed;
        operations as kafka-acls spells them (Read, Write, Describe,
        Create, IdempotentWrite, All, ...)."""
        from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                           ResourcePatternType, ResourceType)
        if not principal.startswith("User:"):
            principal = f"User:{principal}"
        out = []
        for resource, name, pattern, ops in rules:
            r = resource.upper().replace("-", "_")
            # confluent-kafka calls the cluster resource BROKER.
            rt = ResourceType.BROKER if r == "CLUSTER" else ResourceType[r]
            if rt == ResourceType.BROKER:
                name = "kafka-cluster"
            pt = ResourcePatternType[pattern.upper()]
            for op in ops:
                opname = "".join(("_" + c if c.isupper() and i else c) for i, c in
                                 enumerate(op)).upper()  # IdempotentWrite -> IDEMPOTENT_WRITE
                out.append(AclBinding(rt, name, pt, principal, host, AclOperation[opname],
                                      AclPermissionType.DENY if deny else
                                      AclPermissionType.ALLOW))
        return out

    def add_acls(self, principal_or_bindings, rules=None) -> int:
        """Creates ACLs (a list of AclBinding, or principal + rules as in
        acl_bindings()); returns how many."""
        bindings = (principal_or_bindings if rules is None
                    else self.acl_bindings(principal_or_bindings, rules))
        if bindings:
            for f in self.admin().create_acls(bindings, request_timeout=30).values():
                f.result(timeout=30)
            self._wait_acls(set(map(str, bindings)), present=True)
        return len(bindings)

    def _wait_acls(self, want: set, present: bool, timeout: float = 15.0) -> None:
        # Each broker's authorizer applies ACLs from the metadata log on its
        # own: until all have, a client may be refused by one of them.
        # A node's AdminClient asks that node (its only bootstrap) first.
        from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType,
                                           ResourcePatternType, ResourceType)
        f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
        deadline = time.monotonic() + timeout
        for n in self.nodes.values():
            if not n.running or n.paused:
                continue
            while True:
                have = set(map(str, n.admin().describe_acls(f, request_timeout=10)
                               .result(timeout=15)))
                if (want <= have) if present else not (want & have):
                    break
                if time.monotonic() > deadline:
                    raise kh.BrokerError(f"node {n.node_id}: ACLs not applied in {timeout} s")
                time.sleep(0.1)
        time.sleep(0.2)  # the authorizer's copy follows the metadata image

    def remove_acls(self, principal_or_bindings, rules=None) -> int:
        """Deletes ACLs matching the given bindings (as add_acls)."""
        from confluent_kafka.admin import AclBindingFilter
        bindings = (principal_or_bindings if rules is None
                    else self.acl_bindings(principal_or_bindings, rules))
        filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal,
                                    b.host, b.operation, b.permission_type) for b in bindings]
        n = 0
        if filters:
            for f in self.admin().delete_acls(filters, request_timeout=30).values():
                n += len(f.result(timeout=30))
            self._wait_acls(set(map(str, bindings)), present=False)
        return n

    def clear_acls(self, principal: str | None = None) -> int:
        """Deletes every ACL (of `principal`, "User:x" or "x", if given)."""
        from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType,
                                           ResourcePatternType, ResourceType)
        if principal and not principal.startswith("User:"):
            principal = f"User:{principal}"
        f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None,
                             AclOperation.ANY, AclPermissionType.ANY)
        return sum(len(x.result(timeout=30))
                   for x in self.admin().delete_acls([f], request_timeout=30).values())

    def acls(self) -> list:
        """Every ACL in the cluster (AclBinding)."""
        from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType,
                                           ResourcePatternType, ResourceType)
        f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
        return self.admin().describe_acls(f, request_timeout=30).result(timeout=30)

    # ------------------------------------------------------------ diagnostics
    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"=== node {i}\n{n.log_tail(lines)}" for i, n in self.nodes.items())


# ---------------------------------------------------------------- pytest
def cluster_fixture(nodes: int = 3, **kw):
    """Generator for a pytest fixture:
    `kafka_cluster = pytest.fixture(scope="session")(lambda: ...cluster_fixture())`."""
    c = Cluster(nodes=nodes, **kw)
    try:
        c.start()
        yield c
    finally:
        c.close()


if __name__ == "__main__":
    import sys
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    t0 = time.monotonic()
    with Cluster(nodes=n) as c:
        print(f"{c.version_string} at {c.bootstrap} (mTLS {c.bootstrap_mtls}); "
              f"ready in {c.ready_seconds:.1f} s ({time.monotonic() - t0:.1f} s with the CA); "
              f"dir {c.dir}. Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while all(x.running for x in c.nodes.values()):
                time.sleep(0.5)
