"""GitHub device-flow login and Copilot tokens, against the fake GitHub over real HTTP.

Polling waits go through an injected `sleep` that only moves a fake clock, so the
device-flow tests are instant and the recorded sleeps show the intervals used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from chatmock_lab.auth.github import (
    API_BASE_BY_ACCOUNT,
    CLIENT_ID,
    DEVICE_GRANT_TYPE,
    EDITOR_VERSION,
    SCOPE,
    CopilotCredentials,
    CopilotToken,
    DeviceCode,
    GitHubEndpoints,
    LoginError,
    copilot_usage,
    fetch_copilot_token,
    login,
    poll_for_token,
    request_device_code,
)
from chatmock_lab.core import ProxyError
from chatmock_lab.testing.fake_github import FakeGitHub

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class WallClock:
    """Unix time shifted by a test-controlled offset, on the scale of `expires_at`."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


class MemoryStore:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def load(self, provider: str) -> dict[str, Any] | None:
        entry = self.entries.get(provider)
        return dict(entry) if entry is not None else None

    def save(self, provider: str, data: dict[str, Any]) -> None:
        self.entries[provider] = dict(data)

    def delete(self, provider: str) -> bool:
        return self.entries.pop(provider, None) is not None


@pytest.fixture(scope="module")
def running_fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def fake(running_fake: FakeGitHub) -> Iterator[FakeGitHub]:
    running_fake.reset()
    yield running_fake
    running_fake.reset()


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10)


async def _with_client(action: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async with _client() as http:
        return await action(http)


def _credentials(
    fake: FakeGitHub,
    *,
    clock: WallClock | None = None,
    env: dict[str, str] | None = None,
    account_type: str = "individual",
    logged_in: bool = True,
) -> tuple[CopilotCredentials, MemoryStore]:
    store = MemoryStore()
    credentials = CopilotCredentials(
        store,
        endpoints=fake.endpoints,
        http_factory=_client,
        account_type=account_type,
        env=env or {},
        clock=clock or WallClock(),
    )
    if logged_in:
        credentials.save_github_token(fake.issue_github_token())
    return credentials, store


def _poll(fake: FakeGitHub, clock: FakeClock, statuses: list[str] | None = None) -> Awaitable[str]:
    async def flow(http: httpx.AsyncClient) -> str:
        code = await request_device_code(http, fake.endpoints)
        return await poll_for_token(
            http,
            fake.endpoints,
            code,
            on_status=None if statuses is None else statuses.append,
            sleep=clock.sleep,
            clock=clock,
        )

    return _with_client(flow)


# Endpoints


def test_endpoints_default_to_github_com_and_follow_the_environment() -> None:
    assert GitHubEndpoints.from_env({}) == GitHubEndpoints(
        "https://github.com", "https://api.github.com"
    )
    both = GitHubEndpoints.from_env(
        {
            "CHATMOCK_GITHUB_URL": "https://ghe.example.com/",
            "CHATMOCK_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
        }
    )
    assert both == GitHubEndpoints("https://ghe.example.com", "https://ghe.example.com/api/v3")
    server = GitHubEndpoints.from_env({"CHATMOCK_GITHUB_URL": "https://ghe.example.com"})
    assert server.api == "https://ghe.example.com/api/v3"
    cloud = GitHubEndpoints.from_env({"CHATMOCK_GITHUB_URL": "https://octo.ghe.com"})
    assert cloud.api == "https://api.octo.ghe.com"


# Device flow


def test_device_flow_through_pending_and_slow_down_to_success(fake: FakeGitHub) -> None:
    fake.script(["pending", "slow_down", "pending", "success"])
    clock, statuses = FakeClock(), []
    token = run(_poll(fake, clock, statuses))

    assert token in fake.issued_github_tokens
    assert statuses == ["pending", "slow_down", "pending", "done"]
    # Waits first at the server's interval, then 5 s longer after slow_down, for good.
    assert clock.sleeps == [5, 5, 10, 10]
    (start,) = fake.requests_to("/login/device/code")
    assert start.body == {"client_id": CLIENT_ID, "scope": SCOPE}
    assert start.headers["accept"] == "application/json"
    polls = fake.requests_to("/login/oauth/access_token")
    assert len(polls) == 4
    for poll in polls:
        assert poll.body == {
            "client_id": CLIENT_ID,
            "device_code": "***",
            "grant_type": DEVICE_GRANT_TYPE,
        }


def test_slow_down_uses_the_interval_github_names(fake: FakeGitHub) -> None:
    fake.slow_down_step = 8
    fake.script(["slow_down", "slow_down", "success"])
    clock = FakeClock()
    run(_poll(fake, clock))
    assert clock.sleeps == [5, 13, 21]


def test_slow_down_without_an_interval_adds_five_seconds(fake: FakeGitHub) -> None:
    fake.slow_down_reports_interval = False
    fake.script(["slow_down", "slow_down", "success"])
    clock = FakeClock()
    run(_poll(fake, clock))
    assert clock.sleeps == [5, 10, 15]


@pytest.mark.parametrize(
    ("outcome", "status", "code", "words"),
    [
        ("expired", "expired", "expired_token", "expired"),
        ("denied", "denied", "access_denied", "denied"),
    ],
)
def test_expired_and_denied_end_the_login_at_once(
    fake: FakeGitHub, outcome: str, status: str, code: str, words: str
) -> None:
    fake.script(["pending", outcome, "success"])
    clock, statuses = FakeClock(), []
    with pytest.raises(LoginError) as caught:
        run(_poll(fake, clock, statuses))
    assert caught.value.code == code
    assert words in str(caught.value)
    assert statuses == ["pending", status]
    assert fake.poll_calls == 2


def test_expires_in_deadline_ends_polling(fake: FakeGitHub) -> None:
    fake.expires_in = 12
    clock, statuses = FakeClock(), []
    with pytest.raises(LoginError) as caught:
        run(_poll(fake, clock, statuses))  # nothing scripted: pending for ever
    assert caught.value.code == "expired"
    assert "12 s" in str(caught.value)
    assert statuses == ["pending", "pending", "expired"]
    assert fake.poll_calls == 2


def test_other_oauth_errors_raise_and_outages_are_retried(fake: FakeGitHub) -> None:
    fake.script(["unavailable", "pending", "error:incorrect_device_code"])
    clock, statuses = FakeClock(), []
    with pytest.raises(LoginError) as caught:
        run(_poll(fake, clock, statuses))
    assert caught.value.code == "incorrect_device_code"
    assert "incorrect_device_code" in str(caught.value)
    assert statuses == ["pending"]
    assert fake.poll_calls == 3


def test_login_shows_the_code_then_returns_the_token(fake: FakeGitHub) -> None:
    fake.script(["pending", "success"])
    shown: list[DeviceCode] = []
    clock = FakeClock()

    async def flow(http: httpx.AsyncClient) -> str:
        return await login(
            http, fake.endpoints, on_code=shown.append, sleep=clock.sleep, clock=clock
        )

    token = run(_with_client(flow))
    assert token in fake.issued_github_tokens
    (code,) = shown
    assert code.verification_uri == f"{fake.github_url}/login/device"
    assert (code.expires_in, code.interval) == (900, 5)
    assert len(code.user_code) == 9 and code.user_code[4] == "-"
    assert code.device_code not in repr(code) and code.user_code in repr(code)


def test_device_code_request_with_a_wrong_client_is_a_login_error(fake: FakeGitHub) -> None:
    fake.client_id = "Iv1.someoneelse"
    with pytest.raises(LoginError) as caught:
        run(_with_client(lambda http: request_device_code(http, fake.endpoints)))
    assert caught.value.code == "incorrect_client_credentials"


# Copilot token


def test_copilot_token_carries_the_api_base_and_editor_headers(fake: FakeGitHub) -> None:
    github_token = fake.issue_github_token()
    fake.copilot_api = "https://api.individual.githubcopilot.com/"
    token = run(_with_client(lambda http: fetch_copilot_token(http, fake.endpoints, github_token)))
    assert token.token == fake.issued_copilot_tokens[-1]
    assert token.api_base == "https://api.individual.githubcopilot.com"
    assert token.refresh_in == 1500
    assert 1790 <= token.expires_at - time.time() <= 1800
    assert token.token not in repr(token) and "api.individual" in repr(token)
    (sent,) = fake.requests_to("/api/copilot_internal/v2/token")
    assert sent.headers["authorization"] == "token ***"
    assert sent.headers["editor-version"] == EDITOR_VERSION
    assert sent.headers["editor-plugin-version"].startswith("copilot-chat/")
    assert sent.headers["user-agent"].startswith("GitHubCopilotChat/")
    assert sent.headers["x-github-api-version"]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_no_copilot_access_is_an_authentication_error(fake: FakeGitHub, status: int) -> None:
    github_token = fake.issue_github_token()
    fake.deny_copilot(status)
    with pytest.raises(ProxyError) as caught:
        run(_with_client(lambda http: fetch_copilot_token(http, fake.endpoints, github_token)))
    assert (caught.value.kind, caught.value.status) == ("authentication", 401)
    assert "no Copilot access" in caught.value.message
    assert "chatmock-lab login copilot" in caught.value.message
    assert github_token not in caught.value.message


def test_an_unknown_github_token_is_an_authentication_error(fake: FakeGitHub) -> None:
    with pytest.raises(ProxyError) as caught:
        run(_with_client(lambda http: fetch_copilot_token(http, fake.endpoints, "gho_forged123")))
    assert caught.value.kind == "authentication"
    assert "Bad credentials" in caught.value.message


def test_usage_is_returned_as_github_sends_it(fake: FakeGitHub) -> None:
    github_token = fake.issue_github_token()
    usage = run(_with_client(lambda http: copilot_usage(http, fake.endpoints, github_token)))
    assert usage == fake.usage
    assert usage["copilot_plan"] == "individual"
    assert usage["quota_reset_date"]
    for name in ("chat", "completions", "premium_interactions"):
        snapshot = usage["quota_snapshots"][name]
        assert {"entitlement", "remaining", "percent_remaining", "unlimited"} <= set(snapshot)
    premium = usage["quota_snapshots"]["premium_interactions"]
    assert (premium["entitlement"], premium["remaining"], premium["unlimited"]) == (300, 253, False)
    (sent,) = fake.requests_to("/api/copilot_internal/user")
    assert sent.headers["authorization"] == "token ***"


# Credentials


def test_missing_login_says_how_to_log_in(fake: FakeGitHub) -> None:
    credentials, _ = _credentials(fake, logged_in=False)
    with pytest.raises(ProxyError) as caught:
        run(credentials.current())
    assert caught.value.kind == "authentication"
    assert "run: chatmock-lab login copilot" in caught.value.message
    assert fake.token_calls == 0


def test_save_and_logout_go_through_the_store(fake: FakeGitHub) -> None:
    credentials, store = _credentials(fake)
    github_token = run(credentials.github_token())
    assert store.entries["copilot"] == {"github_token": github_token}
    assert github_token not in repr(credentials)
    run(credentials.current())
    assert credentials.logout() is True
    assert credentials.logout() is False
    with pytest.raises(ProxyError):
        run(credentials.current())


def test_api_base_from_token_override_and_account_type(fake: FakeGitHub) -> None:
    credentials, _ = _credentials(fake)
    token = run(credentials.current())
    assert credentials.api_base(token) == "https://api.individual.githubcopilot.com"

    override = {"CHATMOCK_COPILOT_BASE_URL": "http://127.0.0.1:9/copilot/"}
    overridden, _ = _credentials(fake, env=override)
    assert overridden.api_base(run(overridden.current())) == "http://127.0.0.1:9/copilot"

    fake.copilot_api = None
    for account_type, base in API_BASE_BY_ACCOUNT.items():
        by_account, _ = _credentials(fake, account_type=account_type)
        bare = run(by_account.current())
        assert bare.api_base is None
        assert by_account.api_base(bare) == base
    with pytest.raises(ValueError, match="account_type"):
        _credentials(fake, account_type="enterprize")


def test_token_is_cached_until_close_to_expires_at(fake: FakeGitHub) -> None:
    fake.copilot_lifetime = 600
    fake.refresh_in = 10**6
    clock = WallClock()
    credentials, _ = _credentials(fake, clock=clock)
    first = run(credentials.current())
    clock.shift = 500
    assert run(credentials.current()) is first
    assert fake.token_calls == 1
    clock.shift = 545  # within a minute of expires_at
    second = run(credentials.current())
    assert second.token != first.token
    assert fake.token_calls == 2


def test_token_is_refreshed_once_refresh_in_has_elapsed(fake: FakeGitHub) -> None:
    fake.refresh_in = 300
    clock = WallClock()
    credentials, _ = _credentials(fake, clock=clock)
    first = run(credentials.current())
    clock.shift = 299
    assert run(credentials.current()) is first
    clock.shift = 301
    assert run(credentials.current()).token != first.token
    assert fake.token_calls == 2


def test_a_token_already_expired_by_our_clock_is_still_reused_briefly(fake: FakeGitHub) -> None:
    # GitHub's clock decides expires_at; a local clock minutes ahead must not turn every
    # request into a token fetch.
    fake.copilot_lifetime = -300
    clock = WallClock()
    credentials, _ = _credentials(fake, clock=clock)
    first = run(credentials.current())
    assert run(credentials.current()) is first
    clock.shift = 11
    run(credentials.current())
    assert fake.token_calls == 2


def test_after_unauthorized_refetches_once_per_stale_token(fake: FakeGitHub) -> None:
    credentials, _ = _credentials(fake)

    async def scenario() -> None:
        stale = await credentials.current()
        rejected = await asyncio.gather(
            *(credentials.after_unauthorized(stale.token) for _ in range(5))
        )
        assert fake.token_calls == 2
        assert {token.token for token in rejected} == {fake.issued_copilot_tokens[-1]}
        assert rejected[0].token != stale.token
        assert await credentials.current() is rejected[0]
        # A late caller with the old token gets the new one, without another fetch.
        assert await credentials.after_unauthorized(stale.token) is rejected[0]
        assert fake.token_calls == 2
        await credentials.after_unauthorized(rejected[0].token)
        assert fake.token_calls == 3

    run(scenario())


def test_concurrent_callers_share_one_refresh(fake: FakeGitHub) -> None:
    clock = WallClock()
    credentials, _ = _credentials(fake, clock=clock)

    async def scenario() -> None:
        fake.copilot_lifetime = 90
        first = await credentials.current()
        clock.shift = 100  # past expires_at
        fake.copilot_lifetime = 1800
        fake.token_delay = 0.2
        tokens = await asyncio.gather(*(credentials.current() for _ in range(20)))
        assert fake.token_calls == 2
        assert {token.token for token in tokens} == {fake.issued_copilot_tokens[-1]}
        assert tokens[0].token != first.token

    run(scenario())


def test_a_failed_refresh_is_shared_not_repeated_by_every_waiter(fake: FakeGitHub) -> None:
    credentials, _ = _credentials(fake)
    fake.deny_copilot(403)
    fake.token_delay = 0.05

    async def scenario() -> list[BaseException | CopilotToken]:
        return await asyncio.gather(
            *(credentials.current() for _ in range(20)), return_exceptions=True
        )

    outcomes = run(scenario())
    assert fake.token_calls == 1
    assert all(isinstance(o, ProxyError) and o.kind == "authentication" for o in outcomes)
    # A later call tries again rather than replaying the old failure.
    fake.allow_copilot()
    run(credentials.current())
    assert fake.token_calls == 2


def test_credentials_work_across_event_loops(fake: FakeGitHub) -> None:
    clock = WallClock()
    credentials, _ = _credentials(fake, clock=clock)
    fake.copilot_lifetime = 90
    run(credentials.current())
    clock.shift = 100
    fake.copilot_lifetime = 1800
    run(credentials.current())
    assert fake.token_calls == 2


def test_with_the_real_token_store(fake: FakeGitHub, tmp_path: Any) -> None:
    store_module = pytest.importorskip("chatmock_lab.auth.store")
    store = store_module.TokenStore(tmp_path / "tokens.json")
    credentials = CopilotCredentials(store, endpoints=fake.endpoints, http_factory=_client, env={})
    credentials.save_github_token(fake.issue_github_token())
    assert run(credentials.current()).token == fake.issued_copilot_tokens[-1]
    assert credentials.logout() is True


# Secrets


def test_no_secret_reaches_logs_reprs_or_errors(
    fake: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script(["slow_down", "success"])
    shown: list[DeviceCode] = []
    clock = FakeClock()
    errors: list[BaseException] = []

    async def scenario(http: httpx.AsyncClient) -> str:
        github_token = await login(
            http, fake.endpoints, on_code=shown.append, sleep=clock.sleep, clock=clock
        )
        credentials = CopilotCredentials(
            MemoryStore(), endpoints=fake.endpoints, http_factory=_client, env={}
        )
        credentials.save_github_token(github_token)
        copilot = await credentials.current()
        fresh = await credentials.after_unauthorized(copilot.token)
        await copilot_usage(http, fake.endpoints, github_token)
        fake.deny_copilot(404)
        for attempt in (
            credentials.after_unauthorized(fresh.token),
            copilot_usage(http, fake.endpoints, github_token),
        ):
            try:
                await attempt
            except ProxyError as exc:
                errors.append(exc)
        fake.script(["denied"])
        try:
            await login(http, fake.endpoints, on_code=shown.append, sleep=clock.sleep, clock=clock)
        except LoginError as exc:
            errors.append(exc)
        return github_token

    github_token = run(_with_client(scenario))
    secrets = [github_token, *fake.issued_copilot_tokens, *(c.device_code for c in shown)]
    assert len(errors) == 3 and len(secrets) == 5
    texts = [caplog.text, *map(str, errors), *map(repr, errors), *map(repr, shown)]
    texts += [repr(recorded) for recorded in fake.requests]
    for secret in secrets:
        for text in texts:
            assert secret not in text
