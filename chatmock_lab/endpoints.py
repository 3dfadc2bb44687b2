"""Where each dialect's clients find a running proxy, and the environment that points the
official SDKs there."""

from __future__ import annotations

from dataclasses import dataclass

# Official SDKs need some key to start; the proxy ignores it unless run with --api-key.
PLACEHOLDER_KEY = "chatmock-lab"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs of one proxy for each dialect's SDK (`url` is the server's root)."""

    url: str

    @property
    def openai(self) -> str:
        # The openai SDK appends paths such as /chat/completions to its base URL.
        return f"{self.url}/v1"

    @property
    def anthropic(self) -> str:
        # The anthropic SDK appends /v1/messages itself.
        return self.url

    @property
    def gemini(self) -> str:
        # google-genai appends /v1beta/models/...; Gemini CLI reads the same variable.
        return self.url

    def environment(self, api_key: str | None = None) -> dict[str, str | None]:
        """Variables that point the openai, anthropic and google-genai SDKs (and Claude
        Code and Gemini CLI) here. `None` means unset: google-genai prefers
        GOOGLE_API_KEY over GEMINI_API_KEY, so a leftover real one must not win."""
        key = api_key or PLACEHOLDER_KEY
        return {
            "OPENAI_BASE_URL": self.openai,
            "OPENAI_API_KEY": key,
            "ANTHROPIC_BASE_URL": self.anthropic,
            "ANTHROPIC_API_KEY": key,
            "GOOGLE_GEMINI_BASE_URL": self.gemini,
            "GEMINI_API_KEY": key,
            "GOOGLE_API_KEY": None,
        }
