"""weir-enrichment with a Redis source, on the real broker and a real
redis-server (tests/harness/redis.py): join, TTL-bounded refresh, negative
caching, and an outage — Redis killed mid-run and restarted — with nothing
lost and nothing duplicated (read_committed)."""
import re
import time

import pytest

import test_enrichment as te
from redis import RedisServer  # tests/harness/redis.py (conftest puts it on sys.path)


@pytest.fixture
def redis_server():
    with RedisServer() as r:
        yield r


def hset(r, key, mapping):
    args = ["HSET", key]
    for k, v in mapping.items():
        args += [k, v]
    r.cmd("DEL", key)
    r.cmd(*args)


def send(kafka, t, aggs):
    te.produce(kafka.bootstrap, t["agg"],
               [(a["key"].encode(), te.so_encode(te.AGG_RAW, te.AGG, a), None) for a in aggs])


def decoded(msgs):
    return [te.so_decode(te.EAGG_RAW, te.EAGG, m.value()) for m in msgs]


def test_redis_join_refresh_and_outage(kafka, topic, weir_build, tmp_path, redis_server):
    r = redis_server
    t = te.topics_for(topic)
    table = {f"k-{i}": {"name": f"Site {i}", "zone": str(i % 3)} for i in range(8)}
    for k, v in table.items():
        hset(r, f"site:{k}", v)
    r.cmd("SET", "unrelated", "x")
    TTL = 1.0
    enr = dict(te.io_section(t), sources=[{
        "name": "sites", "type": "redis", "url": r.url, "key_pattern": "site:{key}",
        "ttl": "1s", "negative_ttl": "1s", "timeout": "200ms", "warm_up": True}])
    e = te.Enrichment(weir_build, tmp_path, kafka.bootstrap, enr).start()
    try:
        e.wait_ready()
        assert "warm-up loaded 8 hashes" in e.log.read_text()
        # k-8, k-9 are not in Redis: passed on unenriched (negative-cached).
        aggs = [te.aggregate(i, f"k-{i % 10}") for i in range(200)]
        send(kafka, t, aggs)
        out = te.consume(kafka.bootstrap, t["out_agg"], len(aggs), idle=1.0)
        assert decoded(out) == [te.expect_join(a, [(table, "pass")]) for a in aggs]
        assert e.metric("weir_enrichment_lookups_total", source="sites", type="redis",
                        result="miss") >= 2
        # Cache and batching: far fewer HGETALLs than records (warm-up's 8
        # plus at most one per distinct key per batch).
        stats = r.cmd("INFO", "commandstats")
        calls = int(re.search(r"cmdstat_hgetall:calls=(\d+)", stats).group(1))
        assert calls < len(aggs) / 4, stats
        assert e.metric("weir_enrichment_cache_hit_ratio", source="sites") > 0.5, \
            [ln for ln in e.get("/metrics")[1].splitlines() if "enrichment_" in ln]

        # A change in Redis shows once the cached copy's TTL has passed.
        hset(r, "site:k-0", {"name": "Renamed", "zone": "9"})
        changed = time.time()
        sent = []
        while time.time() - changed < TTL + 2.0:
            a = te.aggregate(1000 + len(sent), "k-0")
            send(kafka, t, [a])
            sent.append((time.time() - changed, a))
            time.sleep(0.1)
        total = len(aggs) + len(sent)
        got = decoded(te.consume(kafka.bootstrap, t["out_agg"], total, idle=1.0)[len(aggs):])
        assert len(got) == len(sent)
        table["k-0"] = {"name": "Renamed", "zone": "9"}
        for g, (dt, a) in zip(got, sent):
            if dt >= TTL + 0.5:  # TTL plus a commit interval's slack
                assert g == te.expect_join(a, [(table, "pass")])

        # Outage.  A key never looked up is added first, then Redis dies.
        hset(r, "site:k-late", {"name": "Late"})
        table["k-late"] = {"name": "Late"}
        r.kill()
        time.sleep(TTL + 0.2)  # every cached entry is now past its TTL
        # Cached keys are served stale while Redis is down...
        cached = [te.aggregate(3000 + i, f"k-{1 + i % 7}") for i in range(40)]
        send(kafka, t, cached)
        total += len(cached)
        got = decoded(te.consume(kafka.bootstrap, t["out_agg"], total, idle=1.0)[-len(cached):])
        assert got == [te.expect_join(a, [(table, "pass")]) for a in cached]
        assert e.metric("weir_enrichment_lookups_total", source="sites", type="redis",
                        result="stale") >= len(cached)
        assert e.metric("weir_enrichment_staleness_seconds", source="sites") > 0
        # ...a key with nothing cached waits (not passed on unenriched)...
        late = [te.aggregate(4000 + i, "k-late") for i in range(10)]
        send(kafka, t, late)
        total += len(late)
        waiting = te.consume(kafka.bootstrap, t["out_agg"], total, timeout=4)
        assert len(waiting) == total - len(late)
        assert e.get("/healthz")[0] == 200
        # ...and goes out enriched once Redis is back: nothing lost, no duplicates.
        r.start()
        out = te.consume(kafka.bootstrap, t["out_agg"], total, timeout=60, idle=2.0)
        assert len(out) == total
        assert decoded(out[-len(late):]) == [te.expect_join(a, [(table, "pass")]) for a in late]
        assert "Redis reachable again" in e.log.read_text()
    finally:
        e.stop()
