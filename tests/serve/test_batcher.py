import threading
import time

import pytest

from pyfast.serve.batcher import BatcherClosed, DynamicBatcher, QueueFull


def recording(delay: float = 0.0):
    calls = []

    def run(key, payloads):
        calls.append((key, list(payloads)))
        time.sleep(delay)
        return [(key, p) for p in payloads]

    return run, calls


def test_jobs_of_one_key_share_calls_up_to_max_batch():
    run, calls = recording()
    batcher = DynamicBatcher(run, max_batch=4, max_delay_s=0.5, queue_size=32)
    futures = [batcher.submit("a", i) for i in range(10)]
    assert [f.result(5) for f in futures] == [("a", i) for i in range(10)]
    batcher.close()
    assert [len(p) for _, p in calls] == [4, 4, 2]
    assert [p for _, ps in calls for p in ps] == list(range(10))  # arrival order kept


def test_keys_are_never_mixed_and_the_oldest_goes_first():
    run, calls = recording()
    gate = threading.Event()

    def gated(key, payloads):
        gate.wait(5)
        return run(key, payloads)

    batcher = DynamicBatcher(gated, max_batch=8, max_delay_s=0.0, queue_size=32)
    first = batcher.submit("a", 0)  # the worker blocks on this one while the rest queue up
    time.sleep(0.05)
    rest = [batcher.submit(k, i) for i, k in enumerate("babab", start=1)]
    gate.set()
    for f in [first, *rest]:
        f.result(5)
    batcher.close()
    assert calls[0] == ("a", [0])
    assert calls[1] == ("b", [1, 3, 5]) and calls[2] == ("a", [2, 4])


def test_a_lone_job_waits_at_most_max_delay():
    run, _ = recording()
    batcher = DynamicBatcher(run, max_batch=64, max_delay_s=0.05, queue_size=8)
    start = time.perf_counter()
    batcher.submit("a", 1).result(5)
    assert 0.04 <= time.perf_counter() - start < 1.0
    batcher.close()


def test_full_queue_refuses_and_close_finishes_queued_jobs():
    run, _ = recording(delay=0.05)
    batcher = DynamicBatcher(run, max_batch=1, max_delay_s=0.0, queue_size=2)
    futures = [batcher.submit("a", 0)]
    time.sleep(0.02)  # job 0 is running; two may wait
    futures += [batcher.submit("a", 1), batcher.submit("a", 2)]
    with pytest.raises(QueueFull):
        batcher.submit("a", 3)
    batcher.close(wait=True)
    assert all(f.done() and not f.exception() for f in futures)
    with pytest.raises(BatcherClosed):
        batcher.submit("a", 4)
    assert batcher.waiting == 0 and batcher.running == 0


def test_errors_reach_every_job_of_the_batch_and_cancelled_jobs_are_skipped():
    seen = []

    def run(key, payloads):
        seen.extend(payloads)
        if "bad" in payloads:
            raise RuntimeError("model failed")
        return payloads

    batcher = DynamicBatcher(run, max_batch=4, max_delay_s=0.2, queue_size=8)
    cancelled = batcher.submit("k", "gone")
    assert cancelled.cancel()
    good, bad = batcher.submit("k", "ok"), batcher.submit("k", "bad")
    with pytest.raises(RuntimeError, match="model failed"):
        bad.result(5)
    with pytest.raises(RuntimeError, match="model failed"):
        good.result(5)
    assert "gone" not in seen
    assert batcher.submit("k", "again").result(5) == "again"  # the worker survived
    batcher.close()


@pytest.mark.parametrize("kwargs, name", [({"max_batch": 0}, "max_batch"), ({"max_delay_s": -1}, "max_delay_s"),
                                          ({"queue_size": 0}, "queue_size"), ({"workers": 0}, "workers")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DynamicBatcher(lambda k, p: p, **kwargs)
