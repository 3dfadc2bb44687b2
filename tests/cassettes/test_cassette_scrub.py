"""Scrubbing secrets out of cassettes, and scanning for the ones left."""

from __future__ import annotations

import json
from pathlib import Path

from chatmock_lab.cassettes import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    dumps_cassette,
    find_secrets,
    load_cassette,
    save_cassette,
    scrub_cassette,
    scrub_interaction,
)

M = "<REDACTED>"
ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJlLXZhbHVl"
REFRESH = "rt_refresh_0123456789abcdef"
ID_TOKEN = "idtok-987654321-zyxw"
CODE = "ac_AuthCode_55667788"
VERIFIER = "verifier-qwertyuiop-1234"
CLIENT_SECRET = "cs-very-secret-value"
COPILOT = "tid=abcdef0123;exp=1700000000;sku=free;8kp=1:f00dfeedcafe"
GITHUB = "gho_ABCDEFGHIJKLMNOPQRSTUVWX"
OPENAI = "sk-proj-ABCDEFGHIJKLMNOP1234"
ACCOUNT = "acct-7f9e8d7c6b5a"
KNOWN = "my-own-known-secret-42"


def _all_text(interaction: Interaction) -> str:
    return dumps_cassette(Cassette([interaction]))


def _oauth_exchange() -> Interaction:
    form = (
        f"grant_type=authorization_code&code={CODE}&code_verifier={VERIFIER}"
        f"&client_secret={CLIENT_SECRET}&redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fcb"
    )
    answer = json.dumps(
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "id_token": ID_TOKEN,
            "expires_in": 3600,
            "account": {"chatgpt_account_id": ACCOUNT},
        },
        indent=2,
    )
    return Interaction(
        RecordedRequest(
            "POST",
            "https://auth.example.test/oauth/token",
            {
                "Content-Type": ["application/x-www-form-urlencoded"],
                "Cookie": ["session=abcdef123456; other=zzzzzzzz"],
            },
            form,
        ),
        RecordedResponse(
            200,
            "OK",
            {
                "content-type": ["application/json"],
                "content-length": [str(len(answer))],
                "Set-Cookie": ["__cf=cfvalue123456; Path=/; HttpOnly"],
            },
            answer,
        ),
    )


def test_oauth_token_exchange_form_and_answer_are_scrubbed() -> None:
    scrubbed = scrub_interaction(_oauth_exchange())
    text = _all_text(scrubbed)
    for secret in (CODE, VERIFIER, CLIENT_SECRET, ACCESS, REFRESH, ID_TOKEN, ACCOUNT):
        assert secret not in text, secret
    for cookie in ("abcdef123456", "zzzzzzzz", "cfvalue123456"):
        assert cookie not in text
    request, response = scrubbed.request, scrubbed.response
    assert request.body is not None
    assert "grant_type=authorization_code&code=%3CREDACTED%3E&" in request.body
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fcb" in request.body
    assert request.headers["Cookie"] == [M]
    assert response.headers["Set-Cookie"] == [M]
    answer = json.loads(response.body)
    assert answer["access_token"] == M
    assert answer["account"] == {"chatgpt_account_id": M}
    assert answer["expires_in"] == 3600
    assert response.headers["content-length"] == [str(len(response.body))]


def test_every_secret_header_and_query_parameter() -> None:
    headers = {
        "Authorization": ["Bearer " + OPENAI],
        "Proxy-Authorization": ["Basic dXNlcjpwYXNzd29yZA=="],
        "x-api-key": ["sk-ant-api03-ABCDEFGHIJKLMNOP"],
        "x-goog-api-key": ["AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ012"],
        "api-key": ["azure0123456789"],
        "cookie": ["a=bcdefghij"],
        "chatgpt-account-id": [ACCOUNT],
        "user-agent": ["test/1.0"],
    }
    uri = "https://up.test/v1/models/m:streamGenerateContent?alt=sse&key=k1k1k1&api_key=k2k2k2&access_token=k3k3k3&token=k4k4k4"
    interaction = Interaction(
        RecordedRequest("POST", uri, headers, "{}"),
        RecordedResponse(401, "Unauthorized", {"set-cookie": ["s=tuvwxyz0"]}, "{}"),
    )
    scrubbed = scrub_interaction(interaction)
    assert scrubbed.request.headers == {
        "Authorization": ["Bearer " + M],
        "Proxy-Authorization": ["Basic " + M],
        "x-api-key": [M],
        "x-goog-api-key": [M],
        "api-key": [M],
        "cookie": [M],
        "chatgpt-account-id": [M],
        "user-agent": ["test/1.0"],
    }
    assert scrubbed.response.headers == {"set-cookie": [M]}
    marker = "%3CREDACTED%3E"
    assert scrubbed.request.uri == (
        "https://up.test/v1/models/m:streamGenerateContent?alt=sse"
        f"&key={marker}&api_key={marker}&access_token={marker}&token={marker}"
    )
    # The original is left alone.
    assert interaction.request.headers["Authorization"] == ["Bearer " + OPENAI]


def test_copilot_token_answer_and_its_later_use_are_scrubbed() -> None:
    answer = json.dumps({"token": COPILOT, "expires_at": 1700000000, "refresh_in": 1500})
    token_exchange = Interaction(
        RecordedRequest(
            "GET",
            "https://api.github.test/copilot_internal/v2/token",
            {"authorization": ["token " + GITHUB]},
            None,
        ),
        RecordedResponse(200, "OK", {}, answer),
    )
    # The next request carries the token in a header that is not a secret header.
    use = Interaction(
        RecordedRequest(
            "POST", "https://copilot.test/chat", {"x-debug-echo": [COPILOT]}, '{"a": 1}'
        ),
        RecordedResponse(200, "OK", {}, f"you sent {COPILOT}"),
    )
    cassette = scrub_cassette(Cassette([token_exchange, use]))
    text = dumps_cassette(cassette)
    assert COPILOT not in text and GITHUB not in text
    assert json.loads(cassette.interactions[0].response.body)["token"] == M
    assert cassette.interactions[0].request.headers["authorization"] == ["token " + M]
    assert cassette.interactions[1].response.body == f"you sent {M}"


def test_streamed_answer_keeps_chunks_joined_to_the_body() -> None:
    frames = [
        'data: {"type":"response.created","response":{"id":"r1"}}\n\n',
        f'data: {{"type":"auth","access_token":"{ACCESS}","code":"ab1"}}\n\n',
        'data: {"type":"error","error":{"code":"rate_limit_exceeded"}}\n\n',
        "data: [DONE]\n\n",
    ]
    body = "".join(frames)
    # Cut inside the token, so the secret straddles two chunks.
    cut = body.index(ACCESS) + 10
    chunks = [(0.0, body[:cut]), (5.0, body[cut:]), (9.0, "")]
    interaction = Interaction(
        RecordedRequest("POST", "https://up.test/v1/responses", {}, '{"stream": true}'),
        RecordedResponse(200, "OK", {}, body, chunks),
    )
    scrubbed = scrub_interaction(interaction).response
    assert ACCESS not in _all_text(scrub_interaction(interaction))
    assert scrubbed.chunks is not None
    assert "".join(text for _, text in scrubbed.chunks) == scrubbed.body
    assert [offset for offset, _ in scrubbed.chunks] == [0.0, 5.0, 9.0]
    assert f'"access_token":"{M}","code":"{M}"' in scrubbed.body
    # An error's code is a reason for clients, not an OAuth code.
    assert '"code":"rate_limit_exceeded"' in scrubbed.body


def test_cut_off_stream_chunks_are_scrubbed_on_their_own() -> None:
    chunk = f'data: {{"refresh_token": "{REFRESH}"'
    interaction = Interaction(
        RecordedRequest("POST", "https://up.test/x", {}, None),
        RecordedResponse(200, "OK", {}, "", [(0.0, chunk)], complete=False, error=f"got {KNOWN}"),
    )
    # The chunk is not valid JSON, so only a value known from elsewhere can be removed.
    scrubbed = scrub_interaction(interaction, secrets=[REFRESH, KNOWN]).response
    assert scrubbed.chunks == [(0.0, f'data: {{"refresh_token": "{M}"')]
    assert scrubbed.error == f"got {M}"


def test_known_secret_values_anywhere() -> None:
    interaction = Interaction(
        RecordedRequest(
            "POST",
            f"https://up.test/{KNOWN}/x?q={KNOWN}",
            {"x-custom": [f"pre {KNOWN} post"]},
            json.dumps({"prompt": f"my key is {KNOWN}"}),
        ),
        RecordedResponse(500, "Error", {}, f"echo: {KNOWN}"),
    )
    scrubbed = scrub_interaction(interaction, secrets=[KNOWN], marker="[X]")
    assert KNOWN not in _all_text(scrubbed)
    assert scrubbed.request.uri == "https://up.test/%5BX%5D/x?q=%5BX%5D"
    assert scrubbed.request.headers["x-custom"] == ["pre [X] post"]
    assert scrubbed.response.body == "echo: [X]"


def test_find_secrets_finds_one_of_each_kind_and_never_shows_them(tmp_path: Path) -> None:
    planted = {
        "bearer": "opaque-bearer-credential-1",
        "sk": OPENAI,
        "sk-ant": "sk-ant-api03-ZYXWVUTSRQPONMLK",
        "xai": "xai-ABCDEFGHIJKLMNOPQR",
        "gh": GITHUB,
        "aiza": "AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ012",
        "jwt": ACCESS,
        "field": "plain-refresh-value",
        "query": "qqqqqqqqqq",
    }
    body = json.dumps(
        {
            "note": f"keys {planted['sk']} {planted['sk-ant']} {planted['xai']}",
            "nested": [{"refresh_token": planted["field"]}],
            "echo": f"{planted['gh']} {planted['aiza']} {planted['jwt']}",
        }
    )
    cassette = Cassette(
        [
            Interaction(
                RecordedRequest(
                    "POST",
                    f"https://up.test/x?key={planted['query']}",
                    {"Authorization": [f"Bearer {planted['bearer']}"]},
                    None,
                ),
                RecordedResponse(200, "OK", {}, body),
            )
        ]
    )
    findings = find_secrets(cassette)
    report = "\n".join(str(f) for f in findings) + repr(findings)
    for secret in planted.values():
        assert secret not in report, secret
    kinds = {f.kind for f in findings}
    assert {"anthropic key", "xai key", "github token", "google api key", "jwt"} <= kinds
    assert {"api key", "secret header", "secret field", "secret query parameter"} <= kinds
    wheres = {f.where for f in findings}
    assert "request.headers.Authorization" in wheres
    assert "request.uri?key" in wheres
    assert "response.body$.nested[0].refresh_token" in wheres
    assert all(f.interaction == 0 for f in findings)

    scrubbed = scrub_cassette(cassette, secrets=planted.values())
    assert find_secrets(scrubbed) == []
    save_cassette(tmp_path / "clean.yaml", scrubbed)
    assert find_secrets(load_cassette(tmp_path / "clean.yaml")) == []


def test_scrubbed_realistic_cassette_reports_nothing() -> None:
    cassette = scrub_cassette(Cassette([_oauth_exchange()], {"note": "fine"}))
    assert find_secrets(cassette) == []
    assert find_secrets(Cassette([_oauth_exchange()]))  # and the raw one is caught


def test_redirect_codes_are_scrubbed_and_cookie_attributes_are_not() -> None:
    redirect = Interaction(
        RecordedRequest("GET", "https://auth.example.test/authorize?client_id=app"),
        RecordedResponse(
            302,
            "Found",
            {
                "Location": [f"http://localhost:1455/auth/callback?code={CODE}&state=s1"],
                "Set-Cookie": ["sid=cookie-value-0123456789; Max-Age=31536000; Path=/"],
            },
            body='{"ttl": 31536000, "path": "/", "sid": "cookie-value-0123456789"}',
        ),
    )
    scrubbed = scrub_interaction(redirect)
    text = _all_text(scrubbed)
    assert CODE not in text and "cookie-value-0123456789" not in text
    assert scrubbed.response.headers["Location"] == [
        "http://localhost:1455/auth/callback?code=%3CREDACTED%3E&state=s1"
    ]
    # The cookie's attributes are not secrets: the body's other values stay as they were.
    assert json.loads(scrubbed.response.body) == {"ttl": 31536000, "path": "/", "sid": M}


def test_log_probability_tokens_are_answer_text_not_secrets() -> None:
    chunk = {
        "choices": [
            {
                "index": 0,
                "delta": {"content": "Hello"},
                "logprobs": {
                    "content": [
                        {"token": "Hello", "logprob": -0.1, "top_logprobs": [{"token": "Hi"}]}
                    ]
                },
            }
        ]
    }
    body = f"data: {json.dumps(chunk)}\n\n"
    streamed = Interaction(
        RecordedRequest("POST", "https://api.example.test/v1/chat/completions", {}, "{}"),
        RecordedResponse(200, "OK", {}, body, chunks=[(0.0, body)]),
    )
    scrubbed = scrub_interaction(streamed)
    assert scrubbed.response.body == body  # neither the tokens nor the text they are
    assert find_secrets(Cassette([streamed])) == []
    # A `token` field outside log probabilities is still a secret.
    secret = Interaction(
        RecordedRequest("POST", "https://api.example.test/token", {}, "{}"),
        RecordedResponse(200, "OK", {}, json.dumps({"token": COPILOT, "text": "x"})),
    )
    assert COPILOT not in _all_text(scrub_interaction(secret))
