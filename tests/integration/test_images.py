"""The FROM scratch images of docker/: `docker/build-images.sh` (what `make
images` runs after the build) builds all four with buildah; each is under
10 MB as a registry stores it (the gzip layer of its OCI layout), its config
runs it as 65532:65532, it holds nothing but its binary, the libraries that
binary loads, CA certificates, passwd/group, schemas and /tmp; and its root
filesystem, mounted from the image with `buildah mount` and started with
chroot as UID 65532 — in its own mount namespace with what an OCI runtime
adds (/proc, the default /dev nodes) and only the environment a pod would
give it — talks to the real Kafka broker and answers 200 on /healthz and
/metrics, then exits 0 on SIGTERM.

No service is skipped: a service whose sources are missing fails the build.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import REPO

SERVICES = ["ingress", "compute", "enrichment", "sink"]
STORE = REPO / "build" / "images"
LIMIT = 10_000_000  # bytes: "under 10 MB"
BUILDAH = ["buildah", "--root", str(STORE / "storage"), "--runroot", str(STORE / "run"),
           "--storage-driver", "vfs"]


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


@pytest.fixture(scope="module")
def images(weir_build):
    assert shutil.which("buildah"), "buildah is not installed (make deps installs it)"
    t0 = time.monotonic()
    env = dict(os.environ, WEIR_BUILD=os.path.relpath(weir_build, REPO))
    r = subprocess.run(["bash", "docker/build-images.sh"], cwd=REPO, env=env, text=True,
                       capture_output=True, timeout=600)
    assert r.returncode == 0, f"build-images.sh failed:\n{r.stdout}\n{r.stderr}"
    print(f"\n{r.stdout.strip()}\n(built in {time.monotonic() - t0:.0f} s)")
    tag = re.search(r"^appVersion: *\"?([^\"\s]+)", (REPO / "charts/weir/Chart.yaml").read_text(),
                    re.M).group(1)
    return {s: f"ghcr.io/weir/weir-{s}:{tag}" for s in SERVICES}


def inspect(name):
    out = subprocess.run(BUILDAH + ["inspect", "--type", "image", name], check=True, text=True,
                         capture_output=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("svc", SERVICES)
def test_image_is_small_nonroot_and_holds_only_what_it_needs(images, svc):
    cfg = inspect(images[svc])["OCIv1"]["config"]
    assert cfg.get("User") == "65532:65532"
    assert cfg.get("Entrypoint") == [f"/usr/bin/weir-{svc}"]

    oci = STORE / "oci" / f"weir-{svc}"
    index = json.loads((oci / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((oci / "blobs" / "sha256" / digest).read_text())
    assert [l["mediaType"] for l in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"]  # FROM scratch: one layer
    size = sum(l["size"] for l in manifest["layers"])
    assert size < LIMIT, f"weir-{svc}: {size / 1e6:.2f} MB compressed"

    rootfs = STORE / svc / "rootfs"
    top = sorted(p.name for p in rootfs.iterdir())
    assert set(top) <= {"etc", "lib", "lib64", "schemas", "tmp", "usr"}, top
    assert sorted(p.name for p in (rootfs / "usr" / "bin").iterdir()) == [f"weir-{svc}"]
    assert sorted(p.name for p in (rootfs / "etc").iterdir()) == ["group", "passwd", "ssl"]
    assert (rootfs / "etc/ssl/certs/ca-certificates.crt").stat().st_size > 10000
    assert "65532" in (rootfs / "etc/passwd").read_text()
    # Every shared object in the image is one the binary loads: what ldd
    # lists, plus libcurl and its libraries, which the release binaries load
    # at their first HTTP request (common/link/curl_lazy.c).
    binary = rootfs / "usr" / "bin" / f"weir-{svc}"
    ldd = subprocess.run(["ldd", str(binary)], check=True, text=True,
                         capture_output=True).stdout
    if b"libcurl.so.4" in binary.read_bytes():
        curl = next(rootfs.rglob("libcurl.so.4"), None)
        assert curl, f"weir-{svc} loads libcurl.so.4 at run time but the image has none"
        ldd += f"{curl}\n" + subprocess.run(["ldd", str(curl)], check=True, text=True,
                                            capture_output=True).stdout
    needed = {os.path.basename(m) for m in re.findall(r"(/\S+\.so[.\d]*)", ldd)}
    shipped = {p.name for p in rootfs.rglob("*.so*")}
    assert shipped == needed, f"extra: {shipped - needed}, missing: {needed - shipped}"
    print(f"weir-{svc}: {size / 1e6:.2f} MB compressed, "
          f"{sum(p.stat().st_size for p in rootfs.rglob('*') if p.is_file()) / 1e6:.2f} MB "
          f"uncompressed, {len(shipped)} shared objects")


def pipeline(topic):
    """The reference pipeline on topics of this test, InfluxDB off (the
    healthz check needs no database)."""
    spec = json.loads((REPO / "docs/examples/traffic-pipeline.json").read_text())
    spec["name"] = "img" + uuid.uuid4().hex[:8]
    spec["input"]["topic"] = topic("img.in", partitions=2)
    out = spec["compute"]["output"]
    for k in ("aggregates", "alerts", "dlq"):
        out[k] = topic(f"img.c.{k}")
    out["changelog"] = topic("img.changelog", partitions=2, config={"cleanup.policy": "compact"})
    spec["enrichment"]["input"] = {"aggregates": out["aggregates"], "alerts": out["alerts"]}
    eo = spec["enrichment"]["output"]
    for k in ("aggregates", "alerts", "dlq"):
        eo[k] = topic(f"img.e.{k}")
    spec["sink"]["input"] = {"aggregates": eo["aggregates"], "alerts": eo["alerts"]}
    spec["sink"]["dlq"] = topic("img.s.dlq")
    spec["sink"]["influx"]["enabled"] = False
    return spec


@pytest.mark.parametrize("svc", SERVICES)
def test_image_rootfs_runs_as_65532_and_answers_healthz(images, svc, kafka, topic, tmp_path):
    ctr = subprocess.run(BUILDAH + ["from", "--pull-never", images[svc]], check=True, text=True,
                         capture_output=True).stdout.strip()
    proc = None
    log = tmp_path / f"{svc}.log"
    try:
        mnt = subprocess.run(BUILDAH + ["mount", ctr], check=True, text=True,
                             capture_output=True).stdout.strip()
        # What the chart's ConfigMap mount gives the pod.
        pdir = os.path.join(mnt, "etc/weir/pipeline")
        os.makedirs(pdir)
        spec = pipeline(topic)
        if svc == "sink":
            # InfluxDB on, over https: the sink sets up libcurl (loaded from
            # the image at that moment) at start; nothing listens there and
            # no record comes, so nothing is written.  (http:// goes through
            # the sink's own client: tests/integration/test_sink_influx.py.)
            spec["sink"]["influx"].pop("enabled")
        with open(os.path.join(pdir, "pipeline.json"), "w") as f:
            json.dump(spec, f)
        shutil.copy(REPO / "docs/examples/intersections.json", pdir)
        os.chmod(pdir, 0o755)

        admin = free_port()
        cfg = inspect(images[svc])["OCIv1"]["config"]
        # The image's environment plus what the chart sets; nothing from ours.
        env = dict(e.split("=", 1) for e in cfg.get("Env", []))
        env.update(PIPELINE_SPEC="/etc/weir/pipeline/pipeline.json", ADMIN_BIND="127.0.0.1",
                   ADMIN_PORT=str(admin), KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
                   LOG_LEVEL="info", POD_NAME=f"weir-{svc}-0")
        if svc == "ingress":
            env["HTTP_BIND"], env["HTTP_PORT"] = "127.0.0.1", str(free_port())
        if svc == "sink":
            env["SINK_HTTP_BIND"], env["SINK_HTTP_PORT"] = "127.0.0.1", str(free_port())
            env["INFLUX_URL"] = f"https://127.0.0.1:{free_port()}"
        if svc != "ingress":
            env["KAFKA_GROUP_ID"] = "img-" + uuid.uuid4().hex[:8]
        # A private mount namespace (unshare -m), /proc and the OCI
        # runtime's default devices bound in, then chroot and drop to
        # 65532; each step execs the next, so proc.pid is the service.
        devs = " ".join(f"/dev/{d}" for d in ("null", "zero", "full", "random", "urandom", "tty"))
        setup = (f'set -e; m="$1"; shift; mkdir -p "$m/proc" "$m/dev"; '
                 f'mount -t proc proc "$m/proc"; for d in {devs}; do '
                 f'touch "$m$d"; mount --bind "$d" "$m$d"; done; '
                 f'exec chroot --userspec=65532:65532 "$m" "$@"')
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", setup,
                                 "sh", mnt, *cfg["Entrypoint"]], env=env, cwd="/",
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(log, "w"))

        def tail():
            return "\n".join(log.read_text(errors="replace").splitlines()[-20:])

        def wait_200(path, seconds):
            deadline = time.monotonic() + seconds
            status = None
            while status != 200:
                assert proc.poll() is None, f"weir-{svc} exited {proc.returncode}:\n{tail()}"
                assert time.monotonic() < deadline, f"{path} never 200 (last {status}):\n{tail()}"
                try:
                    status = urllib.request.urlopen(f"http://127.0.0.1:{admin}{path}",
                                                    timeout=5).status
                except urllib.error.HTTPError as e:
                    status = e.code
                except OSError:
                    pass
                if status != 200:
                    time.sleep(0.3)

        wait_200("/healthz", 90)
        # Ready: connected to the broker (and, for consumers, partitions
        # assigned and state restored) — the image really talks to Kafka.
        wait_200("/readyz", 120)

        uid = re.search(r"^Uid:\s+(\d+)", open(f"/proc/{proc.pid}/status").read(), re.M)
        assert uid and uid.group(1) == "65532"
        # libcurl is loaded only by a service that needs it (the sink's
        # https InfluxDB client here; the others only with a registry).
        maps = open(f"/proc/{proc.pid}/maps").read()
        assert ("libcurl.so.4" in maps) == (svc == "sink"), f"weir-{svc} maps:\n{maps}"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read()
        assert f"weir_{svc}_".encode() in metrics

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, f"exit {proc.returncode} after SIGTERM:\n{tail()}"
        proc = None
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(BUILDAH + ["umount", ctr], capture_output=True)
        subprocess.run(BUILDAH + ["rm", ctr], capture_output=True)
