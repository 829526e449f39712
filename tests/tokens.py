"""Tokens made wrong on purpose."""

from __future__ import annotations


def tampered(token: str) -> str:
    """`token` (a JWT, or anything ending in one) with one character in the middle of its
    signature changed: always a different signature, where reversing a few characters can
    leave a palindrome as it was, or change only a base64 padding bit."""
    head, _, signature = token.rpartition(".")
    middle = len(signature) // 2
    changed = "A" if signature[middle] != "A" else "B"
    return f"{head}.{signature[:middle]}{changed}{signature[middle + 1 :]}"
