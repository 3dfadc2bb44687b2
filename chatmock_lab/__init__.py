"""chatmock-lab: one local proxy for the OpenAI, Anthropic and Gemini API dialects."""

__version__ = "0.1.0"
