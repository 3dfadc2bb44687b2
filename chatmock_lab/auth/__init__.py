"""Logins to upstreams that need more than an API key: OAuth flows and the token store.

`store` keeps every provider's tokens in one 0600 JSON file under `chatmock_home()`;
`chatgpt` (a package) signs in to ChatGPT (browser or device code) and keeps its tokens
fresh; `github` does GitHub's device flow and derives Copilot tokens; `stand_ins` stands
in for both logins when a cassette is replayed. `http` builds the clients all of them use,
on an injectable transport. Who each login says it is lives in `chatmock_lab.identity`.
"""
