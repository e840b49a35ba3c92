"""Properties of Eddystone-URL frames: valid bytes only, stable decoding, TX power and layouts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware import eddystone
from hardware.errors import InvalidURL, URLTooLong

SCHEME_PREFIXES = [prefix for prefix, _ in eddystone.SCHEMES]
URL_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
URLS = st.builds(
    lambda scheme, pieces: scheme + "".join(pieces),
    st.sampled_from(SCHEME_PREFIXES),
    st.lists(
        st.one_of(
            st.text(URL_CHARS, min_size=1, max_size=5), st.sampled_from(eddystone.EXPANSIONS)
        ),
        max_size=6,
    ),
)
RESERVED = set(range(len(eddystone.EXPANSIONS), 0x21)) | set(range(0x7F, 0x100))


def encodable(url: str) -> tuple[int, bytes] | None:
    try:
        return eddystone.encode_url(url)
    except URLTooLong:
        return None


@given(URLS)
def test_encoding_uses_no_reserved_byte(url):
    encoded = encodable(url)
    if encoded is None:
        return

    assert set(encoded[1]) & RESERVED == set()


@given(scheme=st.integers(0, 3), raw=st.binary(max_size=17))
def test_decoding_is_stable(scheme, raw):
    try:
        url = eddystone.decode_url(scheme, raw)
    except InvalidURL:
        return

    again = eddystone.encode_url(url)

    assert eddystone.decode_url(*again) == url
    assert len(again[1]) <= len(raw)


@given(scheme=st.integers(4, 255), raw=st.binary(max_size=17))
def test_reserved_scheme_rejected(scheme, raw):
    with pytest.raises(InvalidURL, match="reserved"):
        eddystone.decode_url(scheme, raw)


@given(URLS)
def test_slot_data_round_trips(url):
    if encodable(url) is None:
        return

    assert eddystone.parse_adv_slot_data(eddystone.adv_slot_data(url)) == url


@given(url=URLS, tx_power=st.integers(-100, 20))
def test_frame_carries_tx_power_and_url(url, tx_power):
    encoded = encodable(url)
    if encoded is None:
        return

    frame = eddystone.advertisement_frame(url, tx_power)

    assert frame[0] == eddystone.FRAME_TYPE_URL
    assert int.from_bytes(frame[1:2], signed=True) == tx_power
    assert frame[2:] == bytes((encoded[0],)) + encoded[1]


@given(tx_power=st.integers(-1000, 1000).filter(lambda value: not -100 <= value <= 20))
def test_tx_power_out_of_range_rejected(tx_power):
    with pytest.raises(InvalidURL, match="TX power"):
        eddystone.advertisement_frame("https://popup.com/", tx_power)


@given(URLS)
def test_uri_beacon_data_is_scheme_then_url(url):
    encoded = encodable(url)
    if encoded is None:
        return

    assert eddystone.uri_beacon_data(url) == bytes((encoded[0],)) + encoded[1]
