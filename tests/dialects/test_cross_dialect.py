"""One conversation asked in the OpenAI chat, Anthropic, Gemini, Ollama and Responses
dialects reaches the provider as one canonical request, and gets one answer."""

from __future__ import annotations

import base64

import anthropic
import ollama
import openai
from google import genai
from google.genai import types

from chatmock_lab.core import ToolCallPart, ToolResultPart
from tests.support import RecordingProvider, png_data_url

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


def gemini_client(url: str) -> genai.Client:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url))


def test_three_dialects_reach_the_provider_as_the_same_request(start_server) -> None:
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    png = png_data_url(4, 4)
    png_b64 = png.split(",", 1)[1]

    client = gemini_client(server.url)
    gemini_reply = client.models.generate_content(
        model="any-model",
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part(text="Weather in Paris?"),
                    types.Part(
                        inline_data=types.Blob(
                            mime_type="image/png", data=base64.b64decode(png_b64)
                        )
                    ),
                ],
            ),
            types.Content(
                role="model",
                parts=[
                    types.Part(text="Checking."),
                    types.Part(
                        function_call=types.FunctionCall(
                            id="call_1",
                            name="get_weather",
                            args={"city": "Paris", "unit": "celsius"},
                        )
                    ),
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            id="call_1", name="get_weather", response={"output": "21 C"}
                        )
                    ),
                    types.Part(text="Thanks, and tomorrow?"),
                ],
            ),
        ],
        config=types.GenerateContentConfig(
            system_instruction="Be brief.",
            max_output_tokens=300,
            temperature=0.3,
            stop_sequences=["END"],
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="get_weather",
                            description="Weather",
                            parameters_json_schema=WEATHER_SCHEMA,
                        )
                    ]
                )
            ],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode="AUTO")
            ),
            automatic_function_calling=NO_AFC,
        ),
    )
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as gpt:
        openai_reply = gpt.chat.completions.create(
            model="any-model",
            max_tokens=300,
            temperature=0.3,
            stop=["END"],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": WEATHER_SCHEMA,
                    },
                }
            ],
            tool_choice="auto",
            messages=[
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather in Paris?"},
                        {"type": "image_url", "image_url": {"url": png}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city":"Paris","unit":"celsius"}',
                            },
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
                {"role": "user", "content": "Thanks, and tomorrow?"},
            ],
        )
    with anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as claude:
        anthropic_reply = claude.messages.create(
            model="any-model",
            max_tokens=300,
            extra_body={"temperature": 0.3},
            stop_sequences=["END"],
            system="Be brief.",
            tools=[
                {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
            ],
            tool_choice={"type": "auto"},
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather in Paris?"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": png_b64,
                            },
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Checking."},
                        {
                            "type": "tool_use",
                            "id": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris", "unit": "celsius"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "21 C"},
                        {"type": "text", "text": "Thanks, and tomorrow?"},
                    ],
                },
            ],
        )
    ollama_reply = ollama.Client(host=server.url).chat(
        model="any-model",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?", "images": [png_b64]},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "function": {
                            "name": "get_weather",
                            "arguments": {"city": "Paris", "unit": "celsius"},
                        },
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "tool_name": "get_weather",
                "content": "21 C",
            },
            {"role": "user", "content": "Thanks, and tomorrow?"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ],
        options={"num_predict": 300, "temperature": 0.3, "stop": ["END"]},
    )
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as gpt:
        responses_reply = gpt.responses.create(
            model="any-model",
            instructions="Be brief.",
            max_output_tokens=300,
            temperature=0.3,
            tools=[
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": WEATHER_SCHEMA,
                    "strict": None,
                }
            ],
            tool_choice="auto",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Weather in Paris?"},
                        {"type": "input_image", "image_url": png},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking."}],
                },
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris","unit":"celsius"}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "21 C"},
                {"role": "user", "content": "Thanks, and tomorrow?"},
            ],
        )
    from_gemini, from_openai, from_anthropic, from_ollama, from_responses = recorder.requests
    # The one difference: how an OpenAI client spelled the token limit, kept so that an
    # OpenAI-compatible upstream is sent the same spelling.
    assert from_openai.extensions.pop("openai.max_tokens_field") == "max_tokens"
    # The Responses API has no stop sequences (noted as not carried over).
    assert from_responses.stop == []
    from_responses.stop = ["END"]
    # Ollama's history carries no call ids (the ollama SDK drops them): the call and its
    # result get one generated id, paired by the tool's name. And Ollama has no tool
    # choice: the model decides, which is `auto`.
    ollama_call = from_ollama.messages[1].parts[1]
    ollama_result = from_ollama.messages[2].parts[0]
    assert isinstance(ollama_call, ToolCallPart) and isinstance(ollama_result, ToolResultPart)
    assert ollama_result.tool_call_id == ollama_call.id
    ollama_call.id = ollama_result.tool_call_id = "call_1"
    assert from_ollama.tool_choice is None
    from_ollama.tool_choice = from_anthropic.tool_choice
    assert from_gemini == from_openai == from_anthropic == from_ollama == from_responses
    assert [m.role for m in from_openai.messages] == ["user", "assistant", "tool", "user"]
    # The same request, so the same answer and the same count, in each dialect's words.
    assert gemini_reply.text == openai_reply.choices[0].message.content
    assert openai_reply.choices[0].message.content == anthropic_reply.content[0].text
    assert gemini_reply.usage_metadata.prompt_token_count == openai_reply.usage.prompt_tokens
    assert openai_reply.usage.prompt_tokens == anthropic_reply.usage.input_tokens
    assert ollama_reply.message.content == anthropic_reply.content[0].text
    assert ollama_reply.prompt_eval_count == anthropic_reply.usage.input_tokens
    assert responses_reply.output_text == anthropic_reply.content[0].text
    assert responses_reply.usage.input_tokens == anthropic_reply.usage.input_tokens
