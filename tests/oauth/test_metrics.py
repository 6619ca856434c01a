"""``/metrics``: the counters after real logins, refreshes and refusals; one scrape for all workers; who may read it.

The in-process service shares prometheus-client's registry with the test process, so these tests
compare a scrape before and after what they do; the multiprocess tests run a real ``gridauth serve``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gridauth.config.builder import load_text
from gridauth.config.cfgfile import set_option
from gridauth.errors import ConfigInvalid
from gridauth.web.metrics import address_allowed

from .conftest import PORTAL, SERVICE, Browser
from .real_serve import scrape, serving, value
from .test_device_flow import GRANT, approve, poll, start

CC = {"grant_type": "client_credentials"}


def delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def code_flow_tokens(service, browser: Browser) -> dict:
    """A local sign-in through the code flow, and the code exchanged for tokens (imported lazily: no cycle)."""
    from .test_code_flow import authorize_url, exchange, login_and_get_code, pkce

    verifier, challenge = pkce()
    query = login_and_get_code(browser, authorize_url(challenge=challenge))
    reply = exchange(service, query["code"][0], verifier)
    assert reply.status == 200, reply.body
    return reply.body


def test_login_refresh_and_refusals_are_counted_with_bounded_labels(service, accounts):
    before = scrape(service)
    browser = Browser(service)
    _, page, _ = browser.follow("/login")
    assert browser.login(page, "alice", "not-her-password")[0] == 401
    tokens = code_flow_tokens(service, browser)
    assert service.refresh(tokens["refresh_token"]).status == 200
    assert service.refresh(tokens["refresh_token"], ("example-portal", "wrong-secret")).status == 401
    assert service.refresh("no-such-token").body["error"] == "invalid_grant"
    assert service.post("/token", {"grant_type": "made-up"}, auth=PORTAL).body["error"] == "unsupported_grant_type"
    assert service.post("/token", CC, auth=SERVICE).status == 200
    assert service.get("/no/such/path").status == 404
    after = scrape(service)

    assert delta(before, after, "gridauth_logins_total", method="local", outcome="failure") == 1
    assert delta(before, after, "gridauth_logins_total", method="local", outcome="success") == 1
    for grant in ("authorization_code", "refresh_token", "client_credentials"):
        assert delta(before, after, "gridauth_tokens_issued_total", grant_type=grant) == 1, grant
    assert delta(before, after, "gridauth_refresh_total", outcome="success") == 1
    assert delta(before, after, "gridauth_refresh_total", outcome="invalid_client") == 1
    assert delta(before, after, "gridauth_refresh_total", outcome="invalid_grant") == 1
    assert delta(before, after, "gridauth_token_errors_total", grant_type="refresh_token", error="invalid_client") == 1
    assert delta(before, after, "gridauth_token_errors_total", grant_type="other",
                 error="unsupported_grant_type") == 1
    assert delta(before, after, "gridauth_http_request_duration_seconds_count", endpoint="/token") == 6
    assert delta(before, after, "gridauth_http_responses_total", endpoint="/token", status="4xx") == 3
    assert delta(before, after, "gridauth_http_request_duration_seconds_count", endpoint="other") == 1
    assert delta(before, after, "gridauth_http_request_duration_seconds_count", endpoint="/login") >= 2
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert "made-up" not in labels and "/no/such/path" not in labels  # what clients send never becomes a label
    assert ("gridauth_db_connections_in_use", frozenset()) in after


def test_device_flow_and_rate_limited_logins_are_counted(service, accounts):
    before = scrape(service)
    flow = start(service)
    assert poll(service, flow["device_code"]).body["error"] == "authorization_pending"
    approve(Browser(service), flow)
    assert poll(service, flow["device_code"]).status == 200
    browser = Browser(service)
    for _ in range(11):
        _, page, _ = browser.follow("/login")
        status, _, _ = browser.login(page, "bob", "wrong-password")
    assert status == 429
    after = scrape(service)
    assert delta(before, after, "gridauth_tokens_issued_total", grant_type="device_code") == 1
    assert delta(before, after, "gridauth_token_errors_total", grant_type="device_code",
                 error="authorization_pending") == 1
    assert delta(before, after, "gridauth_device_decisions_total", decision="approved") == 1
    assert delta(before, after, "gridauth_logins_total", method="local", outcome="rate_limited") == 1
    assert delta(before, after, "gridauth_logins_total", method="local", outcome="failure") == 10
    assert GRANT  # the device grant's URN is labelled "device_code", not by its URN


def test_metrics_are_refused_outside_the_allowed_networks_and_follow_a_reload(service):
    assert service.get("/metrics").status == 200  # loopback by default
    service.edit(lambda cfg: set_option(cfg, "/DIRAC/Security/Authorization/MetricsAllowFrom", "10.0.0.0/8, 192.0.2.7"))
    refused = service.get("/metrics")
    assert refused.status == 403 and b"not served to this address" in refused.body
    assert refused.headers["Content-Type"].startswith("text/plain")
    service.edit(lambda cfg: set_option(cfg, "/DIRAC/Security/Authorization/MetricsAllowFrom", "10.0.0.0/8, 127.0.0.1"))
    assert service.get("/metrics").status == 200


def test_address_rule():
    from gridauth.config.model import LOOPBACK_NETWORKS

    assert address_allowed("127.0.0.2", LOOPBACK_NETWORKS) and address_allowed("::1", LOOPBACK_NETWORKS)
    assert address_allowed("::ffff:127.0.0.1", LOOPBACK_NETWORKS)
    assert not address_allowed("192.0.2.7", LOOPBACK_NETWORKS)
    assert not address_allowed("not an address", LOOPBACK_NETWORKS) and not address_allowed(None, LOOPBACK_NETWORKS)


def test_scrapers_get_the_format_they_ask_for(service):
    reply = service.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert reply.headers["Content-Type"].startswith("application/openmetrics-text") and reply.body.endswith(b"# EOF\n")
    assert service.get("/metrics").headers["Content-Type"].startswith("text/plain")


def test_a_bad_metrics_network_is_a_configuration_error(example_text):
    opening = "Authorization\n    {\n"
    text = example_text.replace(opening, opening + "      MetricsAllowFrom = 10.0.0.0/8, nonsense\n", 1)
    assert "nonsense" in text
    with pytest.raises(ConfigInvalid) as caught:
        load_text(text)
    assert [(i.where, i.reason) for i in caught.value.issues] == [
        ("/DIRAC/Security/Authorization/MetricsAllowFrom",
         "'nonsense' is not an IP address or network (e.g. 10.0.0.0/8, 192.0.2.7)")]


@pytest.fixture
def two_workers(config_file, db_url, tmp_path):
    yield from serving(config_file, db_url, tmp_path, "--processes", "2", "--log-format", "json",
                       "--reload-interval", "0.2")


def _pids_serving(server, path: str) -> set[int]:
    """The workers whose access lines show *path*; a line still being written (no newline yet) is left for later."""
    complete = server.log_text().split("\n")[:-1]
    lines = [json.loads(line) for line in complete if line.startswith("{")]
    return {entry["pid"] for entry in lines if entry.get("path") == path}


def test_one_scrape_shows_every_worker_and_survives_a_worker_restart(two_workers, config_file):
    server = two_workers
    first_version = server.get("/health").body["config"]["version"]
    sent = 0
    while len(_pids_serving(server, "/token")) < 2 and sent < 400:  # new connections: the kernel spreads them
        assert server.post("/token", CC, auth=SERVICE).status == 200
        sent += 1
    assert len(_pids_serving(server, "/token")) == 2, "one worker took every request"
    assert server.post("/token", CC, auth=("example-service", "wrong")).status == 401
    deadline = time.monotonic() + 5  # a duration is recorded as its answer goes out: wait for the last one
    while value(scrape(server), "gridauth_http_request_duration_seconds_count", endpoint="/token") <= sent:
        assert time.monotonic() < deadline, "the last request's duration was never counted"
        time.sleep(0.05)
    for _ in range(4):  # whichever worker answers the scrape, it shows the whole service
        samples = scrape(server)
        assert value(samples, "gridauth_tokens_issued_total", grant_type="client_credentials") == sent
        assert value(samples, "gridauth_token_errors_total", grant_type="client_credentials",
                     error="invalid_client") == 1
        assert value(samples, "gridauth_http_request_duration_seconds_count", endpoint="/token") == sent + 1
        versions = [dict(labels)["version"] for (name, labels), v in samples.items()
                    if name == "gridauth_config_info" and v == 1]
        assert versions == [first_version]
        assert value(samples, "gridauth_config_last_reload_timestamp_seconds") > time.time() - 600
        assert value(samples, "gridauth_db_connections_in_use") == 0  # every connection went back to its pool
    victim = sorted(_pids_serving(server, "/token"))[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while "starting another" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # the replacement starts after a one-second pause
    assert value(scrape(server), "gridauth_tokens_issued_total", grant_type="client_credentials") == sent
    loaded_before = value(scrape(server), "gridauth_config_last_reload_timestamp_seconds")
    config_file.write_text(config_file.read_text() + "\n# an edit\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        samples = scrape(server)
        if value(samples, "gridauth_config_info", version=first_version) == 0:
            break
        time.sleep(0.2)
    new_version = server.get("/health").body["config"]["version"]
    assert new_version != first_version
    assert value(samples, "gridauth_config_info", version=first_version) == 0  # no live worker serves it any more
    assert value(samples, "gridauth_config_info", version=new_version) == 1
    assert value(samples, "gridauth_config_last_reload_timestamp_seconds") > loaded_before


def test_a_scrape_while_a_worker_creates_its_metrics_file_still_answers(config_file, db_url, tmp_path):
    """A worker starting (the first one, or one replacing a dead one) creates an empty file first: no 500."""
    metrics_dir = tmp_path / "metrics"
    for server in serving(config_file, db_url, tmp_path, "--processes", "2",
                          env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}):
        assert server.post("/token", CC, auth=SERVICE).status == 200
        (metrics_dir / "counter_4242424.db").touch()  # as a starting worker leaves it for a moment
        for _ in range(4):
            assert value(scrape(server), "gridauth_tokens_issued_total", grant_type="client_credentials") == 1


def test_behind_a_proxy_the_forwarded_address_is_checked(config_file, db_url, tmp_path):
    for server in serving(config_file, db_url, tmp_path, "--behind-proxy"):
        assert server.get("/metrics").status == 200  # Prometheus on the host itself, not through the proxy
        assert server.get("/metrics", headers={"X-Real-Ip": "203.0.113.9"}).status == 403  # a client via the proxy
        assert server.get("/metrics", headers={"X-Real-Ip": "127.0.0.1"}).status == 200


def test_health_answers_head_for_load_balancers(service):
    reply = service.get("/health", method="HEAD")
    assert reply.status == 200 and not reply.body


def test_the_command_line_does_not_import_prometheus_client_before_serve_chooses_its_mode():
    # prometheus-client picks in-memory or multiprocess values when first imported: serve must come first.
    code = "import sys, gridauth.cli.main; print('prometheus_client' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_an_unusable_metrics_directory_stops_serve_with_one_line(gridauth, config_file, helpers, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = gridauth("serve", "--config", config_file, "--port", "0", "--processes", "2",
                      env={**gridauth.env, "PROMETHEUS_MULTIPROC_DIR": str(blocker / "metrics")})
    lines = helpers.clean_failure(result, exit_code=1, one_line=True)
    assert "cannot prepare the metrics directory" in lines[0] and "a-file/metrics" in lines[0], lines
