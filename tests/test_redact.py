"""Secrets never reach logs."""

from __future__ import annotations

import logging

from chatmock_lab.redact import MASK, RedactingFilter, Redactor


def test_known_secrets_and_credential_patterns_are_masked() -> None:
    redactor = Redactor(["my-private-value-123"])
    text = (
        "key=my-private-value-123 Authorization: Bearer abcdefghijklmnop sk-proj-ABCDEFGHIJ0123 "
        "xai-ABCDEFGHIJKL ghu_ABCDEFGHIJKLMNOPQRSTUV "
        '{"access_token": "tok-1", "refresh_token":"r2"} '
        "https://x/v1beta/models?key=AIzaSyXXXXXXXXXXXXXXXXXXXXXXX&alt=sse cookie: a=b; c=d"
    )
    masked = redactor.text(text)
    for secret in (
        "my-private-value-123",
        "abcdefghijklmnop",
        "sk-proj-ABCDEFGHIJ0123",
        "xai-ABCDEFGHIJKL",
        "ghu_ABCDEFGHIJKLMNOPQRSTUV",
        "tok-1",
        '"r2"',
        "AIzaSyXXXXXXXXXXXXXXXXXXXXXXX",
        "a=b",
    ):
        assert secret not in masked, secret
    assert "Bearer " + MASK in masked and "&alt=sse" in masked


def test_headers_are_masked_and_learned() -> None:
    redactor = Redactor()
    headers = {
        "Authorization": "Bearer secret-token-xyz",
        "x-api-key": "plainkey123",
        "accept": "*/*",
    }
    assert redactor.headers(headers) == {
        "Authorization": "Bearer ***",
        "x-api-key": MASK,
        "accept": "*/*",
    }
    redactor.add_from_headers(headers)
    assert redactor.text("echo secret-token-xyz and plainkey123") == f"echo {MASK} and {MASK}"


def test_logging_filter_masks_messages_arguments_and_tracebacks(caplog) -> None:
    redactor = Redactor(["hunter2-long-secret"])
    logger = logging.getLogger("test.redact")
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda record: records.append(logging.Formatter().format(record))  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("header %s", "hunter2-long-secret")
        try:
            raise RuntimeError("failed with hunter2-long-secret")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    assert records and all("hunter2-long-secret" not in r for r in records)
    assert "RuntimeError" in records[1]
