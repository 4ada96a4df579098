"""Sealing secrets for the notifier: round trip, tampering, unknown keys, rotation."""

from __future__ import annotations

import pytest
from polis.events.sealing import (
    DEV_KEY_ID,
    DEV_PRIVATE_KEY,
    DEV_PUBLIC_KEY,
    Opener,
    Sealer,
    SealError,
    generate_keypair,
)


def test_a_sealed_secret_opens_with_the_private_key() -> None:
    sealed = Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal("Password-123 è")
    assert sealed.startswith("sealed:v1:dev:") and "Password" not in sealed
    assert Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(sealed) == "Password-123 è"


def test_two_seals_of_the_same_secret_differ() -> None:
    sealer = Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID)
    assert sealer.seal("x") != sealer.seal("x")


def test_tampering_is_detected() -> None:
    sealed = Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal("secret")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    opener = Opener({DEV_KEY_ID: DEV_PRIVATE_KEY})
    for bad in (flipped, sealed[:-10], "sealed:v1:dev:", "plain"):
        with pytest.raises(SealError):
            opener.open(bad)


def test_a_key_id_cannot_be_swapped() -> None:
    private, _public = generate_keypair()
    sealed = Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal("secret")
    relabelled = sealed.replace("sealed:v1:dev:", "sealed:v1:other:")
    with pytest.raises(SealError):
        Opener({DEV_KEY_ID: DEV_PRIVATE_KEY, "other": private}).open(relabelled)


def test_unknown_key_id_is_refused_and_rotation_keeps_old_keys() -> None:
    new_private, new_public = generate_keypair()
    old = Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal("old")
    new = Sealer(new_public, "k2").seal("new")
    with pytest.raises(SealError):
        Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(new)
    both = Opener({DEV_KEY_ID: DEV_PRIVATE_KEY, "k2": new_private})
    assert (both.open(old), both.open(new)) == ("old", "new")
