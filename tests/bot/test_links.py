"""Deep-link payload codec."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import links
from bot.links import InvalidPayload, Link, LinkKind

SECRET = "test-secret"


def test_event_link_round_trip():
    payload = links.encode(Link(LinkKind.EVENT, 42, "qr"), SECRET)

    assert payload == "e16-qr"
    assert links.decode(payload, SECRET) == Link(LinkKind.EVENT, 42, "qr")


def test_receipt_link_is_signed():
    payload = links.encode(Link(LinkKind.RECEIPT, 7), SECRET)

    assert payload.startswith("r7_")
    assert len(payload) == len("r7_") + links.SIGNATURE_LENGTH


@pytest.mark.parametrize(
    "payload",
    ["x" * 65, "drop.42", "ZHJvcDQy==", "a%3D", "e1`", "", "e", "E1", "q12", "e1-QR", "m1_abc"],
)
def test_malformed_payload_rejected(payload):
    with pytest.raises(InvalidPayload):
        links.decode(payload, SECRET)


def test_receipt_with_changed_signature_rejected():
    payload = links.encode(Link(LinkKind.RECEIPT, 7), SECRET)
    last = payload[-1]
    forged = payload[:-1] + ("A" if last != "A" else "B")

    with pytest.raises(InvalidPayload, match="signature"):
        links.decode(forged, SECRET)


def test_receipt_with_changed_id_rejected():
    payload = links.encode(Link(LinkKind.RECEIPT, 7), SECRET)
    forged = "r8" + payload[2:]

    with pytest.raises(InvalidPayload, match="signature"):
        links.decode(forged, SECRET)


def test_receipt_signed_with_other_secret_rejected():
    payload = links.encode(Link(LinkKind.RECEIPT, 7), "other")

    with pytest.raises(InvalidPayload):
        links.decode(payload, SECRET)


def test_deep_link_uses_bot_username():
    assert links.deep_link("popup_bot", "e1") == "https://t.me/popup_bot?start=e1"


@given(
    kind=st.sampled_from(list(LinkKind)),
    ident=st.integers(min_value=0, max_value=links.MAX_ID),
    source=st.none() | st.sampled_from(["qr", "bc", "sh", "rc"]),
)
def test_any_link_round_trips_within_telegram_rules(kind, ident, source):
    payload = links.encode(Link(kind, ident, source), SECRET)

    assert links.PAYLOAD_RE.match(payload)
    assert links.decode(payload, SECRET) == Link(kind, ident, source)


@given(st.text(max_size=80))
def test_decoder_accepts_only_canonical_payloads(text):
    try:
        link = links.decode(text, SECRET)
    except InvalidPayload:
        return
    assert links.encode(link, SECRET) == text
