import hashlib
import math

from keys import crypto


def test_it_makes_prefixed_alphanumeric_keys():
    raw = crypto.generate_key()
    assert raw.startswith("tg_")
    assert len(raw) == 43
    assert raw[3:].isalnum() and raw[3:].isascii()
    assert crypto.looks_like_key(raw)


def test_it_carries_at_least_128_bits_of_randomness():
    assert crypto.ENTROPY_BITS >= 128
    assert crypto.ENTROPY_BITS == crypto.SECRET_LENGTH * math.log2(62)
    keys = {crypto.generate_key() for _ in range(2000)}
    assert len(keys) == 2000
    # Every position draws from the whole alphabet, not a narrow part of it.
    used = {ch for key in keys for ch in key[3:]}
    assert used == set(crypto.ALPHABET)


def test_it_digests_with_sha256():
    raw = crypto.generate_key()
    assert crypto.digest(raw) == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in crypto.digest(raw)


def test_display_prefix_is_short_and_recognisable():
    raw = crypto.generate_key()
    assert crypto.display_prefix(raw) == raw[:11]


def test_it_rejects_malformed_keys_without_a_lookup():
    raw = crypto.generate_key()
    for bad in [
        "",
        "tg_",
        raw[:-1],
        raw + "x",
        "cg_" + raw[3:],
        raw[:-1] + "!",
        raw.upper()[:3] + raw[3:],
    ]:
        assert not crypto.looks_like_key(bad), bad
