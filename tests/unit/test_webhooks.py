"""Standard Webhooks signing and the helper-side verifier, checked against the reference library."""

from __future__ import annotations

import base64
import email.message
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from sessionmgr.events.webhooks import (
    WebhookRejected,
    WebhookVerifier,
    new_webhook_secret,
    sign,
    signature_header,
    webhook_headers,
)

NOW = 1_700_000_000
BODY = json.dumps({"id": "e1", "type": "logout", "site": "example.com"}).encode()


def fixed_clock() -> float:
    return float(NOW)


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    a, b = new_webhook_secret(), new_webhook_secret()
    assert a.startswith("whsec_") and b.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"), validate=True)) == 32
    assert a != b


def test_sign_matches_the_standard_webhooks_example() -> None:
    # The worked example published with the Standard Webhooks specification.
    assert (
        sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
             1614265330, b'{"test": 2432232314}')
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_reference_library_accepts_our_headers() -> None:
    secret = new_webhook_secret()
    ts = int(time.time())
    headers = webhook_headers([secret], "evt-1", ts, BODY)
    assert headers["webhook-id"] == "evt-1"
    assert headers["webhook-timestamp"] == str(ts)
    assert headers["content-type"] == "application/json"
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    # ... and only with the right secret
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(BODY, headers)


def test_rotation_sends_one_signature_per_secret_and_each_verifies() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    ts = int(time.time())
    header = signature_header([old, new], "evt-2", ts, BODY)
    parts = header.split(" ")
    assert parts == [sign(old, "evt-2", ts, BODY), sign(new, "evt-2", ts, BODY)]
    headers = webhook_headers([old, new], "evt-2", ts, BODY)
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
        assert WebhookVerifier([secret]).verify(headers, BODY)["id"] == "e1"


def test_our_verifier_accepts_what_the_reference_library_signs() -> None:
    secret = new_webhook_secret()
    ts = int(time.time())
    sig = Webhook(secret).sign("msg_1", datetime.fromtimestamp(ts, tz=UTC), BODY.decode())
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(ts), "Webhook-Signature": sig}
    assert WebhookVerifier([secret]).verify(headers, BODY) == json.loads(BODY)


def test_bad_inputs_to_sign_are_refused() -> None:
    secret = new_webhook_secret()
    with pytest.raises(TypeError):
        sign(secret, "id", 1.5, BODY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sign(secret, "id", True, BODY)
    with pytest.raises(TypeError):
        sign(secret, "id", 1, "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        sign(secret, "", 1, BODY)
    with pytest.raises(ValueError, match="base64"):
        sign("whsec_not base64!", "id", 1, BODY)
    with pytest.raises(ValueError, match="short"):
        sign("whsec_" + base64.b64encode(b"short").decode(), "id", 1, BODY)
    with pytest.raises(ValueError):
        signature_header([], "id", 1, BODY)
    with pytest.raises(ValueError):
        signature_header(secret, "id", 1, BODY)  # a str is not a list of secrets


# -- the verifier -----------------------------------------------------------


@pytest.fixture
def secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def verifier(secret: str) -> WebhookVerifier:
    return WebhookVerifier([secret], clock=fixed_clock)


def reason(verifier: WebhookVerifier, headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(WebhookRejected) as info:
        verifier.verify(headers, body)
    return info.value.reason


def test_replay_of_an_accepted_webhook_is_a_duplicate(verifier: WebhookVerifier, secret: str
                                                      ) -> None:
    headers = webhook_headers([secret], "evt-1", NOW, BODY)
    assert verifier.verify(headers, BODY)["id"] == "e1"
    assert reason(verifier, headers) == "duplicate"
    # A retry of the same event (fresh timestamp, fresh signature) is a duplicate too.
    assert reason(verifier, webhook_headers([secret], "evt-1", NOW + 5, BODY)) == "duplicate"


def test_tampered_body_is_rejected(verifier: WebhookVerifier, secret: str) -> None:
    headers = webhook_headers([secret], "evt-1", NOW, BODY)
    assert reason(verifier, headers, BODY.replace(b"logout", b"login")) == "bad_signature"
    # a rejected attempt is not remembered: the genuine one still goes through
    assert verifier.verify(headers, BODY)["type"] == "logout"


def test_tampered_id_or_timestamp_is_rejected(verifier: WebhookVerifier, secret: str) -> None:
    headers = webhook_headers([secret], "evt-1", NOW, BODY)
    assert reason(verifier, {**headers, "webhook-id": "evt-2"}) == "bad_signature"
    assert reason(verifier, {**headers, "webhook-timestamp": str(NOW - 1)}) == "bad_signature"


@pytest.mark.parametrize(("offset", "expected"), [(-360, "too_old"), (360, "too_new")])
def test_timestamps_six_minutes_off_are_rejected(
    verifier: WebhookVerifier, secret: str, offset: int, expected: str
) -> None:
    headers = webhook_headers([secret], "evt-1", NOW + offset, BODY)
    assert reason(verifier, headers) == expected


@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_timestamps_within_five_minutes_are_accepted(secret: str, offset: int) -> None:
    verifier = WebhookVerifier([secret], clock=fixed_clock)
    assert verifier.verify(webhook_headers([secret], "e", NOW + offset, BODY), BODY)


def test_unknown_secret_is_rejected(verifier: WebhookVerifier) -> None:
    headers = webhook_headers([new_webhook_secret()], "evt-1", NOW, BODY)
    assert reason(verifier, headers) == "bad_signature"


def test_rotation_verifier_accepts_either_secret() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    verifier = WebhookVerifier([old, new], clock=fixed_clock)
    assert verifier.verify(webhook_headers([old], "a", NOW, BODY), BODY)
    assert verifier.verify(webhook_headers([new], "b", NOW, BODY), BODY)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers(verifier: WebhookVerifier, secret: str, missing: str) -> None:
    headers = webhook_headers([secret], "evt-1", NOW, BODY)
    del headers[missing]
    assert reason(verifier, headers) == "missing_headers"


@pytest.mark.parametrize("value", ["soon", "1.7e9", "-1", "\uff11\uff17" + "\uff10" * 8, "9" * 40])
def test_bad_timestamp(verifier: WebhookVerifier, secret: str, value: str) -> None:
    headers = webhook_headers([secret], "evt-1", NOW, BODY)
    assert reason(verifier, {**headers, "webhook-timestamp": value}) == "bad_timestamp"


@pytest.mark.parametrize(
    "signature",
    ["", "v1", "v1,", "v1,!!!", "v2,{good}", "{good_b64}", "v1a,{good_b64}", "v1,{good_b64}x"],
)
def test_malformed_signatures_are_rejected_not_crashing(
    verifier: WebhookVerifier, secret: str, signature: str
) -> None:
    good = sign(secret, "evt-1", NOW, BODY)
    value = signature.format(good=good, good_b64=good.split(",", 1)[1])
    headers = {**webhook_headers([secret], "evt-1", NOW, BODY), "webhook-signature": value}
    assert reason(verifier, headers) in {"bad_signature", "missing_headers"}


def test_one_good_signature_among_others_is_enough(verifier: WebhookVerifier, secret: str
                                                   ) -> None:
    good = sign(secret, "evt-1", NOW, BODY)
    header = f"v2,abc v1,!!! {sign(new_webhook_secret(), 'evt-1', NOW, BODY)} {good}"
    headers = {**webhook_headers([secret], "evt-1", NOW, BODY), "webhook-signature": header}
    assert verifier.verify(headers, BODY)


def test_headers_are_case_insensitive_and_message_objects_work(secret: str) -> None:
    verifier = WebhookVerifier([secret], clock=fixed_clock)
    msg = email.message.Message()
    for name, value in webhook_headers([secret], "evt-1", NOW, BODY).items():
        msg[name.upper()] = value
    assert verifier.verify(msg, BODY)  # type: ignore[arg-type]


def test_conflicting_repeated_header_is_refused(verifier: WebhookVerifier, secret: str) -> None:
    msg = email.message.Message()
    for name, value in webhook_headers([secret], "evt-1", NOW, BODY).items():
        msg[name] = value
    msg["Webhook-Id"] = "evt-other"
    assert reason(verifier, msg) == "missing_headers"  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_signed_body_that_is_not_a_json_object(verifier: WebhookVerifier, secret: str,
                                               body: bytes) -> None:
    assert reason(verifier, webhook_headers([secret], "evt-1", NOW, body), body) == "bad_body"


def test_remembered_ids_are_bounded(secret: str) -> None:
    verifier = WebhookVerifier([secret], clock=fixed_clock, remember=2)
    for msg_id in ("a", "b", "c"):
        verifier.verify(webhook_headers([secret], msg_id, NOW, BODY), BODY)
    assert reason(verifier, webhook_headers([secret], "c", NOW, BODY)) == "duplicate"
    # "a" was forgotten, oldest first
    assert verifier.verify(webhook_headers([secret], "a", NOW, BODY), BODY)


def test_verifier_needs_secrets() -> None:
    with pytest.raises(ValueError):
        WebhookVerifier([])
    with pytest.raises(ValueError):
        WebhookVerifier(new_webhook_secret())


SECRETS = [new_webhook_secret() for _ in range(2)]


@given(
    msg_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    payload=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    flip=st.integers(min_value=0),
)
def test_roundtrip_and_any_flipped_byte_fails(msg_id: str, payload: dict[str, str], flip: int
                                              ) -> None:
    body = json.dumps(payload).encode()
    ts = int(time.time())
    headers = webhook_headers(SECRETS, msg_id, ts, body)
    assert WebhookVerifier(SECRETS[1:]).verify(headers, body) == payload
    assert Webhook(SECRETS[0]).verify(body, headers) == payload
    tampered = bytearray(body)
    tampered[flip % len(body)] ^= 0x01
    with pytest.raises(WebhookRejected) as info:
        WebhookVerifier(SECRETS).verify(headers, bytes(tampered))
    assert info.value.reason == "bad_signature"
