"""Tests for srcli.tasks.batch: skip/overwrite rules, failures, interruption, exit codes."""

from srcli.io.paths import Job
from srcli.tasks.batch import run_batch


def _jobs(tmp_path, n):
    return [Job(f"in{i}", str(tmp_path / f"out{i}")) for i in range(n)]


def test_failures_do_not_stop_the_batch(tmp_path):
    errors = []

    def process(job):
        if job.source == "in1":
            raise ValueError("bad pixels")
        return {"ok": True}

    result = run_batch(_jobs(tmp_path, 3), process, report_error=errors.append, user_errors=(ValueError,))
    assert [r["status"] for r in result.rows] == ["done", "failed", "done"]
    assert errors == ["in1: bad pixels"] and result.exit_code() == 1


def test_single_failure_is_exit_2(tmp_path):
    errors = []
    result = run_batch(_jobs(tmp_path, 1), lambda job: {"x": 1 / 0}, report_error=errors.append)
    assert result.exit_code() == 2 and errors == ["in0: ZeroDivisionError: division by zero"]


def test_existing_outputs(tmp_path):
    jobs = _jobs(tmp_path, 2)
    (tmp_path / "out0").write_bytes(b"old")
    refused = run_batch(jobs, lambda job: {})
    assert refused.rows[0]["status"] == "failed" and "--overwrite" in refused.rows[0]["error"]
    skipped = run_batch(jobs, lambda job: {}, skip_existing=True)
    assert [r["status"] for r in skipped.rows] == ["skipped", "done"] and skipped.exit_code() == 0
    replaced = run_batch(jobs, lambda job: {}, overwrite=True)
    assert [r["status"] for r in replaced.rows] == ["done", "done"]


def test_interrupt_stops_and_exits_130(tmp_path):
    def process(job):
        if job.source == "in2":
            raise KeyboardInterrupt
        return {}

    result = run_batch(_jobs(tmp_path, 5), process)
    assert result.interrupted and len(result.rows) == 2 and result.exit_code() == 130


def test_progress_advances_per_job(tmp_path):
    class Counter:
        n = 0

        def advance(self):
            self.n += 1

    counter = Counter()
    run_batch(_jobs(tmp_path, 4), lambda job: {}, progress=counter)
    assert counter.n == 4
