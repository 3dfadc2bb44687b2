"""Every notebook in notebooks/ runs top to bottom in a real kernel (nbclient), offline,
and says what it should: the cells tagged in each notebook are checked by their output."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# Timing-sensitive or heavy (browsers, kernels, subprocess clients): one worker runs
# them one after another, so none is measured while another loads both cores.
pytestmark = pytest.mark.xdist_group("heavy")

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


def run_notebook(name: str) -> dict[str, str]:
    """The text each tagged cell showed (stdout, and text/plain of results), by tag."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    shown: dict[str, str] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o.text for o in cell.outputs if o.get("name") == "stderr"]
        assert not errors and not stderr, (cell.source, errors, stderr)
        text = "".join(
            o.get("text", "")
            if o.output_type == "stream"
            else o.get("data", {}).get("text/plain", "")
            for o in cell.outputs
        )
        for tag in cell.metadata.get("tags", []):
            shown[tag] = text
    return shown


def test_every_notebook_is_tested() -> None:
    tested = {"quickstart", "compare_dialects", "record_and_replay", "debug_translation"}
    assert {path.stem for path in NOTEBOOKS.glob("*.ipynb")} == tested


def test_quickstart() -> None:
    shown = run_notebook("quickstart.ipynb")
    assert shown["openai"].strip() == "You said: Hello from OpenAI"
    assert shown["anthropic"].strip() == "You said: Hello from Anthropic"
    assert shown["gemini"].strip() == "You said: Hello from Gemini"
    pieces = ast.literal_eval(shown["stream"].strip())
    assert len(pieces) > 1 and "".join(pieces) == "You said: Stream this sentence back"
    assert "(provider: mock)" in shown["status"] and "requests served:" in shown["status"]
    assert shown["stop"].strip() == "chatmock-lab stopped"


def test_compare_dialects() -> None:
    shown = run_notebook("compare_dialects.ipynb")
    assert "differences: none" in shown["plain"]
    differences, answers = shown["plain-result"].strip().splitlines()
    assert differences == "[]"
    assert ast.literal_eval(answers) == {
        name: "You said: What is the capital of France?"
        for name in ("openai", "anthropic", "gemini", "ollama", "responses")
    }
    assert "chatmock compare (streamed)" in shown["tools"]
    assert shown["tools-result"].strip().splitlines() == [
        "openai tool_calls tool_calls ['get_weather']",
        "anthropic tool_calls tool_use ['get_weather']",
        "gemini tool_calls STOP ['get_weather']",
        "ollama stop stop []",
        "responses tool_calls completed ['get_weather']",
    ]


def test_record_and_replay() -> None:
    shown = run_notebook("record_and_replay.ipynb")
    assert shown["replayed"].strip() == "Hello, cassette world."
    assert "copilot.yaml (none, played 1, recorded 0)" in shown["status"]
    assert "chatmock-lab recording into" in shown["record"]
    assert shown["recorded"].strip() == "Recorded in a notebook."
    assert "played 0, recorded 1" in shown["eject"]
    assert shown["scrubbed"].strip() == "key in cassette: False"
    assert "(1 interactions)" in shown["replay"]
    inspected = shown["inspect"]
    assert "-> 200" in inspected and "0 violation(s)" in inspected
    assert '"Recor"' in inspected and "up='data: " in inspected


@pytest.mark.parametrize("name", ["debug_translation.ipynb"])
def test_debug_translation(name: str) -> None:
    shown = run_notebook(name)
    to_anthropic = shown["openai-to-anthropic"]
    assert "chatmock translate openai -> anthropic" in to_anthropic
    assert "- seed:" in to_anthropic and "- presence_penalty:" in to_anthropic
    assert '"system": "Be brief."' in to_anthropic
    to_gemini = shown["anthropic-to-gemini"]
    assert '"functionCall"' in to_gemini and '"functionResponse"' in to_gemini
    assert "chatmock inspect: anthropic POST /v1/messages -> 200" in shown["inspect"]
    count, _ = shown["inspect-result"].split(" chunks;")
    assert int(count) > 3 and shown["inspect-result"].strip().endswith("violations: []")
