"""Passwords as one string whatever keyboard or system typed them.

An "é" comes as one code point from one keyboard and as "e" plus a combining accent from
another; an input method in full-width mode types "ｐａｓｓ" for "pass"; a Mac's Option+Space
types a no-break space. Each password is therefore normalised to NFKC before it is hashed,
checked or sent to Cognito, as NIST SP 800-63B (5.1.1.2) advises. RFC 8265's OpaqueString
profile takes NFC instead, which joins the accents but keeps full-width letters and the
other spaces apart, so the same keystrokes on another input method still fail; what NFKC
joins besides (a ligature "ﬁ" and "fi", "²" and "2") costs a password of 10 characters or
more next to nothing.

Passwords set before they were normalised were hashed as they were typed, so a password
that does not match normalised is tried once more as it came (`candidates`).
"""

from __future__ import annotations

import unicodedata


def normalised(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def candidates(password: str) -> tuple[str, ...]:
    """The forms to try, normalised first: the one every password set now is hashed from."""
    form = normalised(password)
    return (form,) if form == password else (form, password)
