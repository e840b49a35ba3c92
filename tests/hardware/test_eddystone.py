"""Tests of Eddystone-URL encoding, decoding and frame layouts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware import eddystone
from hardware.errors import InvalidURL, URLTooLong

SCHEME_PREFIXES = [prefix for prefix, _ in eddystone.SCHEMES]
URL_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
URL_PIECES = st.one_of(
    st.text(URL_CHARS, min_size=1, max_size=6), st.sampled_from(eddystone.EXPANSIONS)
)
URLS = st.builds(
    lambda scheme, pieces: scheme + "".join(pieces),
    st.sampled_from(SCHEME_PREFIXES),
    st.lists(URL_PIECES, max_size=8),
)


@given(URLS)
def test_round_trip_returns_same_url(url: str) -> None:
    try:
        scheme, encoded = eddystone.encode_url(url)
    except URLTooLong:
        return
    assert eddystone.decode_url(scheme, encoded) == url


@given(URLS)
def test_encoding_never_exceeds_17_bytes(url: str) -> None:
    try:
        _, encoded = eddystone.encode_url(url)
    except URLTooLong as exc:
        assert exc.encoded_length > eddystone.MAX_URL_BYTES
        return
    assert len(encoded) <= eddystone.MAX_URL_BYTES


def test_expansions_take_one_byte() -> None:
    scheme, encoded = eddystone.encode_url("https://popup.com/e42")
    assert scheme == 0x03
    assert encoded == b"popup\x00e42"


def test_www_scheme_is_preferred() -> None:
    scheme, encoded = eddystone.encode_url("http://www.example.org")
    assert scheme == 0x00
    assert encoded == b"example\x08"


def test_exactly_17_bytes_is_accepted() -> None:
    url = "https://abcdefghijklmnop.com/"
    _, encoded = eddystone.encode_url(url)
    assert len(encoded) == 17


def test_18_bytes_raises_url_too_long() -> None:
    url = "https://abcdefghijklmnopq.com/"
    with pytest.raises(URLTooLong) as caught:
        eddystone.encode_url(url)
    assert caught.value.encoded_length == 18


def test_too_long_message_names_url_length_and_fix() -> None:
    url = "https://t.me/micropop_bot?start=a42"
    with pytest.raises(URLTooLong) as caught:
        eddystone.encode_url(url)
    message = str(caught.value)
    assert url in message
    assert f"{eddystone.encoded_length(url)} bytes" in message
    assert "limit of 17" in message
    assert "shorter public base URL" in message


def test_non_ascii_is_rejected() -> None:
    with pytest.raises(InvalidURL, match="printable ASCII"):
        eddystone.encode_url("https://café.com/")


def test_unknown_scheme_is_rejected() -> None:
    with pytest.raises(InvalidURL, match="http:// or https://"):
        eddystone.encode_url("ftp://popup.com/")


def test_reserved_byte_is_rejected_on_decode() -> None:
    with pytest.raises(InvalidURL, match="0x0e"):
        eddystone.decode_url(0x03, b"a\x0eb")


def test_adv_slot_data_has_no_tx_power() -> None:
    assert eddystone.adv_slot_data("https://popup.com/e42") == b"\x10\x03popup\x00e42"


def test_uri_beacon_data_starts_with_scheme() -> None:
    assert eddystone.uri_beacon_data("https://popup.com/e42") == b"\x03popup\x00e42"


def test_advertisement_frame_carries_tx_power() -> None:
    frame = eddystone.advertisement_frame("http://popup.net", tx_power=-20)
    assert frame == b"\x10\xec\x02popup\x0a"


def test_parse_adv_slot_data_returns_url() -> None:
    value = eddystone.adv_slot_data("https://www.popup.org/l/ab")
    assert eddystone.parse_adv_slot_data(value) == "https://www.popup.org/l/ab"
