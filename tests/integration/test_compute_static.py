"""Static membership (KIP-345) for compute: a process killed by SIGKILL and
restarted at once takes its partitions back without waiting for the dead
members' session timeout (issue 22).

With GROUP_INSTANCE_ID set, each worker thread's consumer joins as
"<base>-<thread>"; the restarted process's consumers carry the same ids, so
the broker hands them the dead members' assignment at once.  Without it the
new members' join waits until the dead ones' session times out (10 s here,
Weir's default), which the second case measures as the contrast.
"""
import time

import test_compute as tc


def _run(kafka, topic, weir_build, tmp_path, name, env):
    parts = 4
    src = topic("in", partitions=parts)
    out = tc.outputs(topic, "s")
    out["changelog"] = topic("cl", partitions=parts, config={"cleanup.policy": "compact"})
    spec = tc.write_spec(tmp_path / f"spec-{name}.json", f"s-{src}"[:60], src, out, tc.WINDOWS,
                         tc.AGGREGATES)
    per, _ = tc.generate(20_000, 500, parts, 60_000, seed=5)
    tc.produce(kafka.bootstrap, src, per)
    base_env = {"KAFKA_SESSION_TIMEOUT_MS": "10000"}  # Weir's default, not the suite's 6 s
    base_env.update(env)
    c = tc.Compute(weir_build, spec, kafka.bootstrap, tmp_path, name=name, threads=2,
                   env=base_env).start()
    try:
        c.wait_ready(90)
        tc.wait_for(lambda: (c.metric("weir_compute_records_in_total") or 0) >= 20_000, 90,
                    "the backlog consumed")
        # state committed to the changelog before the kill
        tc.wait_for(lambda: (c.metric("weir_compute_changelog_records_total") or 0) > 0, 30,
                    "state in the changelog")
        time.sleep(2.5)
        c.proc.kill()
        c.proc.wait()
        t0 = time.time()
        c.start()
        c.wait_ready(60)
        ready_s = time.time() - t0
        restore_s = c.metric("weir_compute_restore_duration_seconds_sum") or 0.0
        restored = c.metric("weir_compute_restored_records_total") or 0
    finally:
        assert c.stop() == 0, c.tail()
    return ready_s, restore_s, restored


def test_sigkill_restart_is_ready_at_once_with_static_membership(kafka, topic, weir_build,
                                                                 tmp_path):
    uniq = f"static-{int(time.time() * 1000) % 10**9}"
    ready_s, restore_s, restored = _run(kafka, topic, weir_build, tmp_path, "st",
                                        {"GROUP_INSTANCE_ID": uniq})
    print(f"\nstatic membership: ready {ready_s:.2f} s after the restart "
          f"(restore {restore_s:.2f} s, {restored:.0f} state records)")
    assert restored > 0
    assert ready_s <= 3.0 + restore_s, (ready_s, restore_s)


def test_sigkill_restart_waits_for_the_session_timeout_without_it(kafka, topic, weir_build,
                                                                  tmp_path):
    """The contrast: what the static ids save."""
    ready_s, restore_s, _ = _run(kafka, topic, weir_build, tmp_path, "dyn",
                                 {"GROUP_INSTANCE_ID": "", "KAFKA_GROUP_INSTANCE_ID": ""})
    print(f"\ndynamic membership: ready {ready_s:.2f} s after the restart "
          f"(restore {restore_s:.2f} s)")
    assert ready_s > 3.0 + restore_s, (ready_s, restore_s)
