"""Load test of the API, the gate between staging and uat.

    locust --locustfile .github/load/locustfile.py --headless --host https://api.staging.example.com \
        --users 50 --spawn-rate 10 --run-time 3m --only-summary

The run fails (exit 1) when the error ratio exceeds MAX_ERROR_RATIO (default 0.01) or the 95th
percentile response time exceeds MAX_P95_MS (default 500), over all requests.
"""

from __future__ import annotations

import os

from locust import HttpUser, between, events, task

MAX_ERROR_RATIO = float(os.environ.get("MAX_ERROR_RATIO", "0.01"))
MAX_P95_MS = float(os.environ.get("MAX_P95_MS", "500"))


class ApiUser(HttpUser):
    """A reader of the API: mostly cheap reads, some readiness checks."""

    wait_time = between(0.5, 2)

    @task(5)
    def openapi(self) -> None:
        self.client.get("/openapi.json", name="/openapi.json")

    @task(1)
    def ready(self) -> None:
        self.client.get("/readyz", name="/readyz")


@events.quitting.add_listener
def _thresholds(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    total = environment.stats.total
    p95 = total.get_response_time_percentile(0.95) or 0
    problems = []
    if total.num_requests == 0:
        problems.append("no request was made")
    if total.fail_ratio > MAX_ERROR_RATIO:
        problems.append(f"error ratio {total.fail_ratio:.3%} > {MAX_ERROR_RATIO:.3%}")
    if p95 > MAX_P95_MS:
        problems.append(f"p95 {p95:.0f} ms > {MAX_P95_MS:.0f} ms")
    if problems:
        print("load test FAILED: " + "; ".join(problems))
        environment.process_exit_code = 1
    else:
        summary = f"{total.num_requests} requests, errors {total.fail_ratio:.3%}, p95 {p95:.0f} ms"
        print(f"load test passed: {summary}")
