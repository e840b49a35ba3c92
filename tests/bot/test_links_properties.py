"""Properties of the deep-link codec: Telegram's payload rules, canonical forms, signatures."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot import links
from bot.links import InvalidPayload, Link, LinkKind

SECRET = "property-secret"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ids = st.integers(min_value=0, max_value=links.MAX_ID)
sources = st.none() | st.from_regex(r"[a-z]{1,8}", fullmatch=True)


@given(kind=st.sampled_from(list(LinkKind)), ident=ids, source=sources)
def test_any_source_round_trips(kind, ident, source):
    payload = links.encode(Link(kind, ident, source), SECRET)

    assert links.PAYLOAD_RE.fullmatch(payload)
    assert links.decode(payload, SECRET) == Link(kind, ident, source)


@given(ident=ids, other=ids)
def test_receipt_signature_binds_its_id(ident, other):
    assume(ident != other)
    signature = links.encode(Link(LinkKind.RECEIPT, ident), SECRET).partition("_")[2]
    forged = links.encode(Link(LinkKind.EVENT, other), SECRET).replace("e", "r", 1)

    with pytest.raises(InvalidPayload):
        links.decode(f"{forged}_{signature}", SECRET)


@given(
    ident=ids,
    position=st.integers(min_value=0, max_value=63),
    replacement=st.sampled_from(ALPHABET),
)
def test_changed_character_of_receipt_rejected(ident, position, replacement):
    payload = links.encode(Link(LinkKind.RECEIPT, ident), SECRET)
    index = position % len(payload)
    forged = payload[:index] + replacement + payload[index + 1 :]
    assume(forged != payload)

    with pytest.raises(InvalidPayload):
        links.decode(forged, SECRET)


@given(ident=ids, secret=st.text(min_size=1, max_size=40))
def test_receipt_of_other_secret_rejected(ident, secret):
    assume(secret != SECRET)
    payload = links.encode(Link(LinkKind.RECEIPT, ident), secret)

    with pytest.raises(InvalidPayload):
        links.decode(payload, SECRET)


@given(kind=st.sampled_from(list(LinkKind)), ident=ids, zeros=st.integers(1, 3))
def test_leading_zeros_rejected(kind, ident, zeros):
    body = links.encode(Link(kind, ident), SECRET)
    padded = body[0] + "0" * zeros + body[1:]
    assume(len(padded.partition("_")[0]) <= 7)

    with pytest.raises(InvalidPayload):
        links.decode(padded, SECRET)


@given(ident=st.integers(min_value=links.MAX_ID + 1, max_value=2**63 - 1))
def test_id_past_largest_row_id_not_encoded(ident):
    with pytest.raises(ValueError, match="past the largest row id"):
        links.encode(Link(LinkKind.EVENT, ident), SECRET)


@given(ident=st.integers(min_value=links.MAX_ID + 1, max_value=36**6 - 1))
def test_id_past_largest_row_id_not_decoded(ident):
    digits = ""
    while ident:
        ident, rest = divmod(ident, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits

    with pytest.raises(InvalidPayload, match="past the largest row id"):
        links.decode(f"d{digits}", SECRET)


@given(st.binary(max_size=80).map(lambda raw: raw.decode("latin-1")))
def test_decoder_raises_only_invalid_payload(text):
    try:
        link = links.decode(text, SECRET)
    except InvalidPayload:
        return
    assert links.encode(link, SECRET) == text
