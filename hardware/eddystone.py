"""Eddystone-URL and URI beacon frames: URL encoding, decoding and GATT payloads."""

from __future__ import annotations

from hardware.errors import InvalidURL, URLTooLong

# Frame type byte of Eddystone-URL. The config service's ADV Slot Data starts with it too.
FRAME_TYPE_URL = 0x10

# An Eddystone-URL frame carries at most 17 bytes of encoded URL after the scheme byte.
MAX_URL_BYTES = 17

# Config GATT service of Eddystone beacons and its ADV Slot Data characteristic.
CONFIG_SERVICE_UUID = "a3c87500-8ed3-4bdf-8a39-a01bebede295"
ADV_SLOT_DATA_UUID = "a3c8750a-8ed3-4bdf-8a39-a01bebede295"

# URI beacon configuration service of older beacons and its URI Data characteristic.
URI_BEACON_SERVICE_UUID = "ee0c2080-8786-40ba-ab96-99b91ac981d8"
URI_DATA_UUID = "ee0c2084-8786-40ba-ab96-99b91ac981d8"

# Longest prefixes first, so "https://www." wins over "https://".
SCHEMES: tuple[tuple[str, int], ...] = (
    ("https://www.", 0x01),
    ("http://www.", 0x00),
    ("https://", 0x03),
    ("http://", 0x02),
)

EXPANSIONS: tuple[str, ...] = (
    ".com/",
    ".org/",
    ".edu/",
    ".net/",
    ".info/",
    ".biz/",
    ".gov/",
    ".com",
    ".org",
    ".edu",
    ".net",
    ".info",
    ".biz",
    ".gov",
)

# Expansions tried longest first at each position, so ".com/" beats ".com".
_EXPANSIONS_BY_LENGTH = sorted(enumerate(EXPANSIONS), key=lambda item: -len(item[1]))

# Bytes 14-32 and 127-255 are reserved in the URL body, and 33-126 are printable ASCII.
_FIRST_LITERAL = 0x21
_LAST_LITERAL = 0x7E


def encode_url(url: str) -> tuple[int, bytes]:
    """Encode a URL into its Eddystone scheme byte and at most 17 URL bytes.

    Raises:
        InvalidURL: the scheme is not http(s), or a character is not printable ASCII.
        URLTooLong: the encoded URL is longer than 17 bytes.
    """
    scheme, rest = _split_scheme(url)
    encoded = bytearray()
    position = 0
    while position < len(rest):
        code = _expansion_at(rest, position)
        if code is not None:
            encoded.append(code)
            position += len(EXPANSIONS[code])
            continue

        char = rest[position]
        if not _FIRST_LITERAL <= ord(char) <= _LAST_LITERAL:
            raise InvalidURL(
                f'URL "{url}" contains {char!r} at position {position + len(url) - len(rest)}: '
                "use printable ASCII only (percent-encode other characters, punycode for "
                "international domain names)"
            )
        encoded.append(ord(char))
        position += 1

    if len(encoded) > MAX_URL_BYTES:
        raise URLTooLong(url, len(encoded), MAX_URL_BYTES)
    return scheme, bytes(encoded)


def decode_url(scheme: int, encoded: bytes) -> str:
    """Decode a scheme byte and encoded URL bytes back into the URL text."""
    prefixes = {code: prefix for prefix, code in SCHEMES}
    if scheme not in prefixes:
        raise InvalidURL(f"Eddystone scheme byte 0x{scheme:02x} is reserved: expected 0x00-0x03")

    parts = [prefixes[scheme]]
    for index, byte in enumerate(encoded):
        if byte < len(EXPANSIONS):
            parts.append(EXPANSIONS[byte])
        elif _FIRST_LITERAL <= byte <= _LAST_LITERAL:
            parts.append(chr(byte))
        else:
            raise InvalidURL(
                f"Eddystone URL byte 0x{byte:02x} at offset {index} is reserved: expected "
                "0x00-0x0d (expansion) or 0x21-0x7e (printable ASCII)"
            )
    return "".join(parts)


def encoded_length(url: str) -> int:
    """Return how many URL bytes a URL takes in a frame, without the limit check."""
    try:
        return len(encode_url(url)[1])
    except URLTooLong as exc:
        return exc.encoded_length


def adv_slot_data(url: str) -> bytes:
    """Build the ADV Slot Data value for the Eddystone config service: 0x10, scheme, URL.

    The config service adds the TX power itself, so this value carries none.
    """
    scheme, encoded = encode_url(url)
    return bytes((FRAME_TYPE_URL, scheme)) + encoded


def uri_beacon_data(url: str) -> bytes:
    """Build the URI Data value for the older URI beacon service: scheme, URL."""
    scheme, encoded = encode_url(url)
    return bytes((scheme,)) + encoded


def advertisement_frame(url: str, tx_power: int) -> bytes:
    """Build the Eddystone-URL service data as broadcast: 0x10, TX power at 0 m, scheme, URL."""
    if not -100 <= tx_power <= 20:
        raise InvalidURL(f"TX power {tx_power} dBm is out of range: use -100 to 20")
    scheme, encoded = encode_url(url)
    return bytes((FRAME_TYPE_URL, tx_power & 0xFF, scheme)) + encoded


def parse_adv_slot_data(value: bytes) -> str:
    """Return the URL in an ADV Slot Data value written by `adv_slot_data`."""
    if len(value) < 2 or value[0] != FRAME_TYPE_URL:
        raise InvalidURL(f"ADV Slot Data {value.hex()} is not a URL frame: expected 10 <scheme>")
    return decode_url(value[1], value[2:])


def _split_scheme(url: str) -> tuple[int, str]:
    for prefix, code in SCHEMES:
        if url.startswith(prefix):
            return code, url[len(prefix) :]
    raise InvalidURL(f'URL "{url}" has no supported scheme: start it with http:// or https://')


def _expansion_at(text: str, position: int) -> int | None:
    for code, expansion in _EXPANSIONS_BY_LENGTH:
        if text.startswith(expansion, position):
            return code
    return None
