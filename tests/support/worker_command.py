"""A command that starts two workers, for the test that its imports are done once, in the workers' server.

Run as a script or with ``-m``; it prints the two workers' process ids.
"""

import tests.support.import_record  # noqa: F401 - recorded in each process that imports it

if __name__ == "__main__":
    from base.isolation import Worker
    from tests.support import worker_jobs

    pids = []
    for start in (1, 2):
        with Worker(worker_jobs.Counter, start, start_timeout_s=60) as worker:
            pids.append(worker.call(worker_jobs.Counter.pid, timeout_s=30))
    print(*pids)
