"""ChatGPT logins and token refresh against the fake auth server, over real loopback HTTP.

The test plays the browser: it follows the authorize URL with httpx, which lands on the
login's own callback server. Device-code polling gets an instant `sleep` that records
the waits, so the flow is exercised at full speed without bare sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import stat
from collections.abc import Awaitable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chatmock_lab.auth.chatgpt import (
    CLIENT_ID,
    DEFAULT_REDIRECT_URI,
    LOGIN_HINT,
    CallbackServer,
    ChatGPTCredentials,
    ChatGPTTokens,
    DeviceCode,
    LoginError,
    authorize_url,
    default_issuer,
    exchange_code,
    generate_pkce,
    generate_state,
    load_tokens,
    login_with_browser,
    login_with_device_code,
    pkce_challenge,
    refresh_tokens,
    save_tokens,
)
from chatmock_lab.auth.store import TokenStore
from chatmock_lab.core.errors import ProxyError
from chatmock_lab.redact import redactor
from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth

T = TypeVar("T")
DEADLINE = 10.0


@pytest.fixture(scope="module")
def running_fake() -> Iterator[FakeChatGPTAuth]:
    with FakeChatGPTAuth() as fake:
        yield fake


@pytest.fixture
def fake(running_fake: FakeChatGPTAuth) -> Iterator[FakeChatGPTAuth]:
    running_fake.reset()
    yield running_fake
    running_fake.reset()


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "home" / "tokens.json")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = DEADLINE) -> T:
    """Run on a fresh loop, with a deadline so a hung flow fails instead of hanging."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=DEADLINE)


async def _visit(url: str, *, follow: bool = True) -> httpx.Response:
    async with httpx.AsyncClient(timeout=DEADLINE, follow_redirects=follow) as browser:
        return await browser.get(url)


class Browser:
    """Stands in for `webbrowser.open`: visits the URL on the login's loop."""

    def __init__(self) -> None:
        self.visits: list[asyncio.Task[httpx.Response]] = []

    def open(self, url: str) -> bool:
        self.visits.append(asyncio.get_running_loop().create_task(_visit(url)))
        return True

    async def page(self) -> httpx.Response:
        return await self.visits[0]


class InstantSleep:
    """`sleep` for the device flow: returns at once and remembers what was asked."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _tokens_from_fake(fake: FakeChatGPTAuth) -> ChatGPTTokens:
    return fake.login_tokens()


def _credentials(fake: FakeChatGPTAuth, store: TokenStore, **options: Any) -> ChatGPTCredentials:
    options.setdefault("import_codex", False)
    return ChatGPTCredentials(store, issuer=fake.url, http_factory=_client, **options)


def _secrets_of(*token_sets: ChatGPTTokens) -> list[str]:
    return [
        value
        for tokens in token_sets
        for value in (tokens.access_token, tokens.refresh_token, tokens.id_token)
    ]


# The authorize URL


def test_authorize_url_carries_codex_parameters() -> None:
    pkce, state = generate_pkce(), generate_state()
    url = authorize_url("https://auth.example.com/", pkce, state)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "auth.example.com",
        "/oauth/authorize",
    )
    assert "scope=openid%20profile%20email%20offline_access" in parts.query
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert params == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "scope": "openid profile email offline_access",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "id_token_add_organizations": "true",
        "codex_cli_simplified_flow": "true",
        "state": state,
        "originator": "codex_cli_rs",
    }
    assert DEFAULT_REDIRECT_URI == "http://localhost:1455/auth/callback"


def test_pkce_and_state() -> None:
    pkce = generate_pkce()
    assert 43 <= len(pkce.verifier) <= 128
    assert re.fullmatch(r"[A-Za-z0-9_-]+", pkce.verifier)
    assert pkce.challenge == pkce_challenge(pkce.verifier)
    assert pkce.verifier not in repr(pkce)
    assert generate_state() != generate_state()


def test_pkce_matches_rfc_7636_example() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_issuer_comes_from_the_environment() -> None:
    assert default_issuer({}) == "https://auth.openai.com"
    assert default_issuer({"CHATMOCK_CHATGPT_AUTH_URL": "http://127.0.0.1:9/"}) == (
        "http://127.0.0.1:9"
    )


# The browser login


def test_browser_login_end_to_end(fake: FakeChatGPTAuth, store: TokenStore) -> None:
    browser = Browser()
    printed: list[str] = []

    async def scenario() -> tuple[ChatGPTTokens, httpx.Response]:
        async with _client() as http:
            tokens = await login_with_browser(
                issuer=fake.url,
                http=http,
                open_browser=browser.open,
                on_url=printed.append,
                port=0,
                timeout=DEADLINE,
            )
        return tokens, await browser.page()

    tokens, page = run(scenario())
    assert page.status_code == 200
    assert "You can close this window" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert len(printed) == 1 and printed[0].startswith(f"{fake.url}/oauth/authorize?")
    assert tokens.account_id == fake.account_id
    assert fake.code_exchanges == 1

    (exchange,) = fake.requests_to("/oauth/token")
    assert exchange.content_type == "application/x-www-form-urlencoded"
    assert exchange.fields["grant_type"] == "authorization_code"
    assert exchange.fields["client_id"] == CLIENT_ID
    assert exchange.fields["code"] == exchange.fields["code_verifier"] == "***"
    assert re.fullmatch(r"http://localhost:\d+/auth/callback", exchange.fields["redirect_uri"])

    save_tokens(store, tokens)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    stored = json.loads(store.path.read_text())["providers"]["chatgpt"]
    assert stored["account_id"] == fake.account_id
    assert load_tokens(store) == tokens


def test_callback_with_a_wrong_state_is_refused_and_the_login_keeps_waiting(
    fake: FakeChatGPTAuth,
) -> None:
    async def scenario() -> tuple[list[int], ChatGPTTokens]:
        shown: asyncio.Queue[str] = asyncio.Queue()
        async with _client() as http:
            login = asyncio.create_task(
                login_with_browser(
                    issuer=fake.url,
                    http=http,
                    open_browser=None,
                    on_url=shown.put_nowait,
                    port=0,
                    timeout=DEADLINE,
                )
            )
            url = await shown.get()
            callback = parse_qs(urlsplit(url).query)["redirect_uri"][0]
            statuses = [
                (await _visit(f"{callback}?code=forged-code&state=wrong-state")).status_code,
                (await _visit(f"{callback}?code=forged-code")).status_code,
                (await _visit(f"{callback}?error=access_denied")).status_code,
            ]
            assert not login.done()
            statuses.append((await _visit(url)).status_code)
            return statuses, await login

    statuses, tokens = run(scenario())
    assert statuses == [400, 400, 400, 200]
    assert tokens.account_id == fake.account_id
    assert fake.code_exchanges == 1


def test_declining_in_the_browser_ends_the_login(fake: FakeChatGPTAuth) -> None:
    fake.deny_next_authorize()
    browser = Browser()

    async def scenario() -> tuple[LoginError, httpx.Response]:
        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_browser(
                    issuer=fake.url,
                    http=http,
                    open_browser=browser.open,
                    on_url=lambda url: None,
                    port=0,
                    timeout=DEADLINE,
                )
        return caught.value, await browser.page()

    error, page = run(scenario())
    assert "declined" in str(error)
    assert page.status_code == 400 and "declined" in page.text
    assert fake.requests_to("/oauth/token") == []


def test_a_refused_code_exchange_shows_in_the_browser_and_the_terminal(
    fake: FakeChatGPTAuth,
) -> None:
    pages: list[httpx.Response] = []

    async def forge_the_code(url: str) -> None:
        # The right state with a code the auth server never issued.
        redirect = await _visit(url, follow=False)
        location = re.sub(r"code=[^&]+", "code=never-issued", redirect.headers["location"])
        pages.append(await _visit(location))

    async def scenario() -> LoginError:
        visits: list[asyncio.Task[None]] = []

        def open_browser(url: str) -> None:
            visits.append(asyncio.get_running_loop().create_task(forge_the_code(url)))

        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_browser(
                    issuer=fake.url,
                    http=http,
                    open_browser=open_browser,
                    on_url=lambda url: None,
                    port=0,
                    timeout=DEADLINE,
                )
        await asyncio.gather(*visits)
        return caught.value

    error = run(scenario())
    assert "refused the sign-in code" in str(error) and "already used" in str(error)
    (page,) = pages
    assert page.status_code == 500 and "refused the sign-in code" in page.text


def test_the_fake_checks_the_code_verifier(fake: FakeChatGPTAuth) -> None:
    async def code_for(pkce_challenge_source: Any, state: str) -> tuple[str, str]:
        redirect_uri = "http://localhost:1455/auth/callback"
        url = authorize_url(fake.url, pkce_challenge_source, state, redirect_uri)
        response = await _visit(url, follow=False)
        assert response.status_code == 302
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == [state]
        return query["code"][0], redirect_uri

    async def scenario() -> tuple[list[LoginError], ChatGPTTokens, str]:
        pkce, state = generate_pkce(), generate_state()
        errors = []
        async with _client() as http:
            code, redirect_uri = await code_for(pkce, state)
            for verifier in ("wrong-verifier-0123456789-abcdefghijklmnop", pkce.verifier):
                # The second try uses the right verifier, too late: a code works once.
                with pytest.raises(LoginError) as caught:
                    await exchange_code(
                        issuer=fake.url,
                        http=http,
                        code=code,
                        code_verifier=verifier,
                        redirect_uri=redirect_uri,
                    )
                errors.append(caught.value)
            code, redirect_uri = await code_for(pkce, state)
            tokens = await exchange_code(
                issuer=fake.url,
                http=http,
                code=code,
                code_verifier=pkce.verifier,
                redirect_uri=redirect_uri,
            )
        return errors, tokens, code

    errors, tokens, code = run(scenario())
    assert "code_verifier does not match" in str(errors[0])
    assert "HTTP 400" in str(errors[0])
    assert "already used" in str(errors[1])
    for error in errors:
        assert code not in str(error) and "wrong-verifier" not in str(error)
    assert tokens.account_id == fake.account_id


def test_browser_login_times_out(fake: FakeChatGPTAuth) -> None:
    async def scenario() -> LoginError:
        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_browser(
                    issuer=fake.url,
                    http=http,
                    open_browser=None,
                    on_url=lambda url: None,
                    port=0,
                    timeout=0.2,
                )
        return caught.value

    assert "within 0.2 s" in str(run(scenario()))


def test_callback_server_answers_only_its_path_and_closes(fake: FakeChatGPTAuth) -> None:
    async def scenario() -> tuple[list[int], int]:
        async with CallbackServer(state="s" * 43, port=0) as server:
            base = f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient(timeout=DEADLINE) as browser:
                statuses = [
                    (await browser.get(f"{base}/favicon.ico")).status_code,
                    (await browser.post(f"{base}/auth/callback")).status_code,
                ]
            port = server.port
        return statuses, port

    statuses, port = run(scenario())
    assert statuses == [404, 405]

    async def connect() -> None:
        await asyncio.open_connection("127.0.0.1", port)

    with pytest.raises(OSError):
        run(connect())


def test_a_busy_port_is_a_clear_error(fake: FakeChatGPTAuth) -> None:
    async def scenario() -> LoginError:
        async with CallbackServer(state="s" * 43, port=0) as first:
            with pytest.raises(LoginError) as caught:
                await CallbackServer(state="t" * 43, port=first.port).start()
        return caught.value

    assert "another login running" in str(run(scenario()))


# The device-code login


def test_device_login_pending_then_approved(fake: FakeChatGPTAuth) -> None:
    fake.script_device("approved", pending=2)
    shown: list[DeviceCode] = []
    sleep = InstantSleep()

    async def scenario() -> ChatGPTTokens:
        async with _client() as http:
            return await login_with_device_code(
                issuer=fake.url, http=http, on_code=shown.append, sleep=sleep
            )

    tokens = run(scenario())
    assert tokens.account_id == fake.account_id
    (device,) = shown
    assert device.verification_url == f"{fake.url}/codex/device"
    assert re.fullmatch(r"[A-Z]{4}-\d{4}", device.user_code)
    assert device.user_code not in repr(device) and device.device_auth_id not in repr(device)
    assert sleep.waits == [1.0, 1.0]
    assert fake.device_polls == 3
    (usercode,) = fake.requests_to("/api/accounts/deviceauth/usercode")
    assert usercode.content_type == "application/json"
    assert usercode.fields == {"client_id": CLIENT_ID}
    (exchange,) = fake.requests_to("/oauth/token")
    assert exchange.fields["redirect_uri"] == f"{fake.url}/deviceauth/callback"
    assert exchange.fields["grant_type"] == "authorization_code"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [("denied", "declined in the browser"), ("expired", "device code expired")],
)
def test_device_login_that_ends_without_approval(
    fake: FakeChatGPTAuth, outcome: Any, message: str
) -> None:
    fake.script_device(outcome, pending=1)
    sleep = InstantSleep()

    async def scenario() -> LoginError:
        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_device_code(
                    issuer=fake.url, http=http, on_code=lambda code: None, sleep=sleep
                )
        return caught.value

    assert message in str(run(scenario()))
    assert fake.device_polls == 2
    assert sleep.waits == [1.0]
    assert fake.requests_to("/oauth/token") == []


def test_device_login_never_approved_stops_at_its_timeout(fake: FakeChatGPTAuth) -> None:
    fake.script_device("approved", pending=1_000_000)
    sleep = InstantSleep()

    async def scenario() -> LoginError:
        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_device_code(
                    issuer=fake.url, http=http, on_code=lambda code: None, sleep=sleep, timeout=5
                )
        return caught.value

    assert "not approved within 5 s" in str(run(scenario()))
    assert sum(sleep.waits) == 5
    assert fake.device_polls == 6


def test_device_login_on_a_server_without_it(fake: FakeChatGPTAuth) -> None:
    fake.device_login_enabled = False

    async def scenario() -> LoginError:
        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_device_code(
                    issuer=fake.url, http=http, on_code=lambda code: None, sleep=InstantSleep()
                )
        return caught.value

    assert "use the browser login" in str(run(scenario()))


# Refreshing


def test_refresh_posts_json_and_rotates(fake: FakeChatGPTAuth) -> None:
    old = _tokens_from_fake(fake)

    async def scenario() -> tuple[ChatGPTTokens, LoginError]:
        async with _client() as http:
            fresh = await refresh_tokens(
                issuer=fake.url, http=http, refresh_token=old.refresh_token, previous=old
            )
            with pytest.raises(LoginError) as caught:
                await refresh_tokens(issuer=fake.url, http=http, refresh_token=old.refresh_token)
        return fresh, caught.value

    fresh, reused = run(scenario())
    assert fresh.refresh_token != old.refresh_token
    assert fresh.access_token != old.access_token
    assert fresh.account_id == fake.account_id
    (first, _) = fake.requests_to("/oauth/token")
    assert first.content_type == "application/json"
    assert first.fields == {
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": "***",
    }
    assert "already used" in str(reused) and getattr(reused, "permanent", False)


def test_current_refreshes_before_expiry_and_saves(
    fake: FakeChatGPTAuth, store: TokenStore
) -> None:
    fake.access_token_lifetime = 60  # inside the five-minute margin
    old = _tokens_from_fake(fake)
    save_tokens(store, old)
    fake.access_token_lifetime = 3600
    credentials = _credentials(fake, store)

    async def scenario() -> tuple[ChatGPTTokens, ChatGPTTokens]:
        return await credentials.current(), await credentials.current()

    first, second = run(scenario())
    assert fake.refresh_calls == 1
    assert first == second
    assert first.access_token != old.access_token
    assert first.expires_at > old.expires_at
    assert load_tokens(store) == first
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_fresh_tokens_are_not_refreshed(fake: FakeChatGPTAuth, store: TokenStore) -> None:
    tokens = _tokens_from_fake(fake)
    save_tokens(store, tokens)
    assert run(_credentials(fake, store).current()) == tokens
    assert fake.refresh_calls == 0


def test_after_unauthorized_refreshes_once(fake: FakeChatGPTAuth, store: TokenStore) -> None:
    save_tokens(store, _tokens_from_fake(fake))
    credentials = _credentials(fake, store)
    fake.refresh_delay = 0.2

    async def scenario() -> tuple[ChatGPTTokens, list[ChatGPTTokens], ChatGPTTokens, int]:
        stale = await credentials.current()
        together = await asyncio.gather(
            *(credentials.after_unauthorized(stale.access_token) for _ in range(5))
        )
        again = await credentials.after_unauthorized(stale.access_token)
        calls_then = fake.refresh_calls
        newest = await credentials.after_unauthorized(again.access_token)
        return stale, [*together, again], newest, calls_then

    stale, answers, newest, calls_then = run(scenario())
    assert calls_then == 1
    assert {answer.access_token for answer in answers} == {answers[0].access_token}
    assert answers[0].access_token != stale.access_token
    assert newest.access_token != answers[0].access_token
    assert fake.refresh_calls == 2


def test_twenty_concurrent_callers_share_one_refresh(
    fake: FakeChatGPTAuth, store: TokenStore
) -> None:
    fake.access_token_lifetime = 0  # already expired
    save_tokens(store, _tokens_from_fake(fake))
    fake.access_token_lifetime = 3600
    fake.refresh_delay = 0.3
    credentials = _credentials(fake, store)

    async def scenario() -> list[ChatGPTTokens]:
        return list(await asyncio.gather(*(credentials.current() for _ in range(20))))

    answers = run(scenario())
    assert fake.refresh_calls == 1
    assert len({answer.access_token for answer in answers}) == 1
    assert load_tokens(store) == answers[0]


def test_a_refresh_by_another_process_is_picked_up_not_repeated(
    fake: FakeChatGPTAuth, store: TokenStore
) -> None:
    # Refresh tokens rotate: refreshing again with the spent one would log us out.
    save_tokens(store, _tokens_from_fake(fake))
    here, there = _credentials(fake, store), _credentials(fake, TokenStore(store.path))

    async def scenario() -> tuple[ChatGPTTokens, ChatGPTTokens]:
        stale = await here.current()
        refreshed_there = await there.after_unauthorized(stale.access_token)
        return refreshed_there, await here.after_unauthorized(stale.access_token)

    refreshed_there, seen_here = run(scenario())
    assert fake.refresh_calls == 1
    assert seen_here == refreshed_there


def test_a_missing_login_says_how_to_log_in(store: TokenStore, tmp_path: Path) -> None:
    for credentials in (
        ChatGPTCredentials(
            store, issuer="http://127.0.0.1:9", http_factory=_client, import_codex=False
        ),
        ChatGPTCredentials(
            store,
            issuer="http://127.0.0.1:9",
            http_factory=_client,
            codex_auth_path=tmp_path / "no-codex" / "auth.json",
        ),
    ):
        with pytest.raises(ProxyError) as caught:
            run(credentials.current())
        assert caught.value.kind == "authentication" and caught.value.status == 401
        assert LOGIN_HINT in caught.value.message


def test_codex_login_is_used_when_the_store_has_none(
    fake: FakeChatGPTAuth, store: TokenStore, tmp_path: Path
) -> None:
    fake.access_token_lifetime = 60
    imported = _tokens_from_fake(fake)
    fake.access_token_lifetime = 3600
    codex_file = tmp_path / "codex" / "auth.json"
    codex_file.parent.mkdir()
    codex_file.write_text(
        json.dumps(
            {
                "OPENAI_API_KEY": None,
                "tokens": {
                    "id_token": imported.id_token,
                    "access_token": imported.access_token,
                    "refresh_token": imported.refresh_token,
                    "account_id": imported.account_id,
                },
                "last_refresh": "2025-01-01T00:00:00Z",
            }
        )
    )
    before = codex_file.read_bytes(), codex_file.stat().st_mtime_ns
    credentials = _credentials(fake, store, import_codex=True, codex_auth_path=codex_file)

    refreshed = run(credentials.current())
    assert fake.refresh_calls == 1
    assert refreshed.account_id == fake.account_id
    # Ours from now on; Codex's file is untouched.
    assert load_tokens(store) == refreshed
    assert (codex_file.read_bytes(), codex_file.stat().st_mtime_ns) == before


def test_refused_refreshes(fake: FakeChatGPTAuth, store: TokenStore) -> None:
    fake.access_token_lifetime = 120  # expiring soon, still valid
    tokens = _tokens_from_fake(fake)
    save_tokens(store, tokens)
    credentials = _credentials(fake, store)

    async def scenario() -> tuple[ChatGPTTokens, ProxyError, ProxyError]:
        # A server hiccup: the still-valid token is used rather than failing the request...
        fake.fail_refresh(500, "server_error")
        kept = await credentials.current()
        # ...for a while, without asking the struggling server again on every request...
        assert await credentials.current() == kept
        assert fake.refresh_calls == 1
        # ...but after a 401 the old token is useless, so the failure is reported.
        fake.fail_refresh(503, "server_error")
        with pytest.raises(ProxyError) as transient:
            await credentials.after_unauthorized(tokens.access_token)
        # A dead refresh token: only a new login helps, and the message says so.
        fake.fail_refresh(401, "refresh_token_expired")
        with pytest.raises(ProxyError) as permanent:
            await credentials.after_unauthorized(tokens.access_token)
        return kept, transient.value, permanent.value

    kept, transient, permanent = run(scenario())
    assert kept == tokens
    assert transient.status == 502 and "HTTP 503" in transient.message
    assert permanent.kind == "authentication"
    assert "expired" in permanent.message and LOGIN_HINT in permanent.message
    assert fake.refresh_calls == 3


def test_one_instance_serves_one_event_loop(fake: FakeChatGPTAuth, store: TokenStore) -> None:
    save_tokens(store, _tokens_from_fake(fake))
    credentials = _credentials(fake, store)
    stale = run(credentials.current())
    with pytest.raises(RuntimeError, match="one event loop"):
        run(credentials.after_unauthorized(stale.access_token))


# Secrets


def test_no_secret_reaches_logs_or_error_messages(
    fake: FakeChatGPTAuth, store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="chatmock_lab")
    errors: list[BaseException] = []
    seen: list[ChatGPTTokens] = []
    codes: list[str] = []

    async def expect_failure(attempt: Awaitable[object]) -> None:
        try:
            await attempt
        except (LoginError, ProxyError) as exc:
            errors.append(exc)
        else:
            raise AssertionError("the attempt was expected to fail")

    async def browser_step_by_step(url: str) -> None:
        # Two hops by hand so the test learns the code the browser carried.
        redirect = await _visit(url, follow=False)
        location = redirect.headers["location"]
        codes.extend(parse_qs(urlsplit(location).query).get("code", []))
        await _visit(location)

    async def scenario() -> None:
        visits: list[asyncio.Task[None]] = []

        def open_browser(url: str) -> None:
            visits.append(asyncio.get_running_loop().create_task(browser_step_by_step(url)))

        async with _client() as http:
            tokens = await login_with_browser(
                issuer=fake.url, http=http, open_browser=open_browser, on_url=lambda u: None, port=0
            )
            await asyncio.gather(*visits)
            seen.append(tokens)
            seen.append(
                await login_with_device_code(
                    issuer=fake.url, http=http, on_code=lambda c: None, sleep=InstantSleep()
                )
            )
            save_tokens(store, tokens)
            credentials = _credentials(fake, store)
            seen.append(await credentials.after_unauthorized(tokens.access_token))
            await expect_failure(
                exchange_code(
                    issuer=fake.url,
                    http=http,
                    code=codes[0],
                    code_verifier="some-verifier-0123456789-abcdefghijklmnopqrstuvwxyz",
                    redirect_uri=DEFAULT_REDIRECT_URI,
                )
            )
            await expect_failure(
                refresh_tokens(issuer=fake.url, http=http, refresh_token=tokens.refresh_token)
            )
            fake.fail_refresh(401, "refresh_token_invalidated")
            await expect_failure(credentials.after_unauthorized(seen[-1].access_token))
            fake.script_device("denied")
            await expect_failure(
                login_with_device_code(
                    issuer=fake.url, http=http, on_code=lambda c: None, sleep=InstantSleep()
                )
            )

    run(scenario())
    secrets = [*_secrets_of(*seen), *codes]
    assert len(secrets) == 10 and len(errors) == 4
    assert "refreshing the ChatGPT login" in caplog.text
    texts = [caplog.text, *(str(e) for e in errors), *(repr(e) for e in errors)]
    texts += [repr(tokens) for tokens in seen] + [repr(r) for r in fake.requests]
    for secret in secrets:
        assert all(secret not in text for text in texts)
        assert secret not in redactor.text(f"token={secret}")


def test_error_pages_and_messages_clip_server_text(fake: FakeChatGPTAuth) -> None:
    fake.deny_next_authorize("access_denied", "line one\nline two " + "x" * 500)
    browser = Browser()

    async def scenario() -> LoginError:
        async with _client() as http:
            with pytest.raises(LoginError) as caught:
                await login_with_browser(
                    issuer=fake.url,
                    http=http,
                    open_browser=browser.open,
                    on_url=lambda url: None,
                    port=0,
                    timeout=DEADLINE,
                )
            await browser.page()
        return caught.value

    message = str(run(scenario()))
    assert "\n" not in message and len(message) < 300
