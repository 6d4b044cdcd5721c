"""The one redaction helper: every way the Realtime API carries a credential comes out masked."""

from __future__ import annotations

import json
import logging

import pytest

from realtime_nb.client import Endpoint, Secret
from realtime_nb.protocol.redaction import MASK, SECRET_KEYS, RedactingLogger, is_secret, redact

EPHEMERAL = "ek_68af2a8e1b3c4d5e6f7a8b9c"
PLATFORM = "sk-" + "proj-Ab12Cd34Ef56Gh78"  # split so the repository holds no key-shaped literal
AZURE = "0123456789abcdef0123456789abcdef"  # Azure keys have no recognisable prefix


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        # ephemeral client secrets, bare and inside session JSON
        (f"token {EPHEMERAL} expires", EPHEMERAL, "token "),
        (
            json.dumps({"type": "session.created", "session": {"client_secret": {"value": EPHEMERAL}}}),
            EPHEMERAL,
            '"type": "session.created"',
        ),
        # platform keys, and a key in an environment assignment
        (f"used {PLATFORM} here", PLATFORM, "used "),
        (f"OPENAI_API_KEY={AZURE} python", AZURE, "OPENAI_API_KEY="),
        # Authorization as a header line and as a JSON key; what follows the JSON value survives
        (f"> Authorization: Bearer {AZURE}", AZURE, "> Authorization: "),
        (json.dumps({"Authorization": f"Bearer {AZURE}", "model": "gpt-realtime"}), AZURE, '"model"'),
        (f"Authorization: Basic {AZURE}", AZURE, "Authorization: "),
        (f"sent bearer {AZURE}.", AZURE, "sent bearer "),
        # api-key as a header, a JSON key, and a query parameter between two others
        (f"> api-key: {AZURE}", AZURE, "> api-key: "),
        (json.dumps({"api-key": AZURE, "api_key": AZURE}), AZURE, '"api_key": '),
        (
            f"wss://r.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&api-key={AZURE}&deployment=d",
            AZURE,
            "?api-version=2025-04-01-preview&",
        ),
        (f"GET /v1/realtime?model=m&api-key={AZURE} HTTP/1.1", AZURE, " HTTP/1.1"),
        # the browser's key subprotocol, between two ordinary ones
        (
            f"realtime, openai-insecure-api-key.{AZURE}, openai-beta.realtime-v1",
            AZURE,
            "openai-beta.realtime-v1",
        ),
    ],
)
def test_redact_masks_every_credential_form_and_keeps_the_rest(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out and MASK in out
    assert kept in out
    assert redact(out) == out  # idempotent: a redacted text stays as it is


def test_explicit_secrets_are_masked_anywhere_longest_first() -> None:
    text = f"url ws://x/?k={AZURE} header Bearer-less {AZURE}x and {AZURE[:8]}"
    out = redact(text, AZURE[:8], AZURE, None, "")
    assert AZURE not in out and AZURE[:8] not in out
    assert out == f"url ws://x/?k={MASK} header Bearer-less {MASK}x and {MASK}"


def test_text_without_credentials_is_unchanged() -> None:
    event = {
        "type": "session.update",
        "event_id": "event_abc123def456",
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "ask for the api key politely",
        },
        "item": {"id": "item_1234567890", "content": [{"type": "input_audio", "audio": "AAEC/+sk09Zz=="}]},
    }
    text = json.dumps(event) + "\nno task-list, risk_factor or desk-lamp here"
    assert redact(text) == text


def test_the_mask_is_the_one_every_layer_shows() -> None:
    assert str(Secret(PLATFORM)) == MASK and repr(Secret(PLATFORM)) == f"Secret({MASK!r})"
    endpoint = Endpoint.local(token=AZURE)
    assert MASK in repr(endpoint) and AZURE not in repr(endpoint)
    assert list(endpoint.headers.values()) == [f"Bearer {MASK}"]


def test_redacting_logger_formats_then_redacts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.redaction")
    log = RedactingLogger(logging.getLogger("test.redaction"), AZURE, None)
    log.debug("> %s: %s", "Authorization", f"Bearer {PLATFORM}")
    log.debug("> GET %s HTTP/1.1", f"/v1/realtime?api-key={EPHEMERAL}")
    log.debug("echo %s", AZURE)
    for secret in (AZURE, PLATFORM, EPHEMERAL):
        assert secret not in caplog.text
    assert [r.getMessage() for r in caplog.records] == [
        f"> Authorization: {MASK}",
        f"> GET /v1/realtime?api-key={MASK} HTTP/1.1",
        f"echo {MASK}",
    ]
    logging.getLogger("test.redaction").setLevel(logging.INFO)
    log.debug("%d", "not formatted when the level is off")  # would raise TypeError if it were
    assert len(caplog.records) == 3


def test_is_secret_names_the_members_masked_whole() -> None:
    for key in SECRET_KEYS:
        assert is_secret(key.upper(), AZURE) and is_secret(key, "") and not is_secret(key, None)
    assert is_secret("client_secret", EPHEMERAL) and is_secret("value", EPHEMERAL)
    assert not is_secret("value", "hello") and not is_secret("client_secret", {"value": EPHEMERAL})
    assert not is_secret("model", PLATFORM)  # a key that looks like one is left to `redact`
    # every credential key the text patterns know is one `is_secret` masks in structured data
    for key in SECRET_KEYS:
        assert redact(json.dumps({key: AZURE})) == json.dumps({key: MASK})
