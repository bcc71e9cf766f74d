"""Temporary passwords for new service accounts.

Microsoft Entra's policy for cloud accounts: 8–256 characters, three of the four classes (lower, upper,
digits, symbols), no Unicode. We always use all four classes and at least 16 characters, drawn with
:mod:`secrets`, and leave out characters people misread when they copy a password from a card
(``0 O o 1 l I |``) or that break when pasted into shells and forms (quotes, backslash, backtick, space).
The account must change it at first sign-in; nothing here logs or stores it.
"""

from __future__ import annotations

import secrets
import string

MIN_LENGTH = 16
MAX_LENGTH = 256
ENTRA_MIN_LENGTH = 8

LOWER = "".join(c for c in string.ascii_lowercase if c not in "lo")
UPPER = "".join(c for c in string.ascii_uppercase if c not in "IO")
DIGITS = "23456789"
SYMBOLS = "!#$%&*+-=?@^_"
ALPHABET = LOWER + UPPER + DIGITS + SYMBOLS
AMBIGUOUS = frozenset("0Oo1lI|")

#: Symbols Entra accepts in a password (for checking passwords we did not generate).
ENTRA_SYMBOLS = frozenset("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")


def generate_temporary_password(length: int = MIN_LENGTH) -> str:
    """A random password of ``length`` (16–256) characters containing every character class at least once."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"password length must be between {MIN_LENGTH} and {MAX_LENGTH}, got {length}")
    # One of each class guarantees complexity; the rest is uniform over the whole alphabet. Shuffling with
    # the CSPRNG keeps the guaranteed characters' positions unpredictable.
    chars = [secrets.choice(pool) for pool in (LOWER, UPPER, DIGITS, SYMBOLS)]
    chars += [secrets.choice(ALPHABET) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def character_classes(password: str) -> int:
    """How many of Entra's four classes (lower, upper, digit, symbol) ``password`` uses."""
    return sum(
        (
            any(c in string.ascii_lowercase for c in password),
            any(c in string.ascii_uppercase for c in password),
            any(c in string.digits for c in password),
            any(c in ENTRA_SYMBOLS for c in password),
        )
    )


def meets_entra_complexity(password: str) -> bool:
    """True when Entra's cloud password policy accepts ``password`` (ignoring its banned-password list)."""
    return (
        ENTRA_MIN_LENGTH <= len(password) <= MAX_LENGTH
        and all(c in string.ascii_letters or c in string.digits or c in ENTRA_SYMBOLS for c in password)
        and character_classes(password) >= 3
    )


def is_valid_temporary_password(password: str) -> bool:
    """True when ``password`` meets this bot's stricter rule: 16+ characters, all four classes, no
    ambiguous or awkward characters."""
    return (
        MIN_LENGTH <= len(password) <= MAX_LENGTH
        and all(c in ALPHABET for c in password)
        and character_classes(password) == 4
        and meets_entra_complexity(password)
    )
