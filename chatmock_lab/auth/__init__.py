"""Logins to upstreams that need more than an API key: OAuth flows and the token store.

`store` keeps every provider's tokens in one 0600 JSON file under `chatmock_home()`;
`chatgpt` signs in to ChatGPT (browser or device code) and keeps its tokens fresh.
"""
