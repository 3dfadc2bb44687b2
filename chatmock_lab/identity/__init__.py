"""How chatmock-lab presents itself to each vendor: one module per vendor.

A vendor's identity (OAuth client ids, editor and client versions, user agents, the
headers built from them) is read by both halves of the code that talks to that vendor:
`auth/` when it signs in and refreshes tokens, `providers/` when it calls the API. Keeping
it in one module per vendor means a version the vendor starts to reject is bumped once,
and the login and the API calls can never disagree about who is calling.

- `copilot`: GitHub and GitHub Copilot, where chatmock-lab is VS Code's Copilot Chat;
- `chatgpt`: OpenAI's auth server (as Codex CLI) and the Codex backend (as itself),
  with the backend's model names.
"""
