"""Share links: a signed, expiring URL that shows one photo to whoever has it, until its
owner revokes it. The link carries a token naming a stored share; deleting the share (or
the photo) ends it at once, whatever the token's expiry says."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from darkroom.domain import Photo, PhotoStatus, Share
from darkroom.errors import BadRequest, Conflict, NotFound, Unauthorized
from darkroom.ports import Shares
from darkroom.services.gallery import Gallery
from darkroom.tokens import TokenCodec

_GONE = "this share link does not exist, has expired or was revoked"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Sharing:
    def __init__(
        self,
        gallery: Gallery,
        shares: Shares,
        codec: TokenCodec,
        max_ttl: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._gallery = gallery
        self._shares = shares
        self._codec = codec
        self.max_ttl = max_ttl
        self._now = clock

    def create(self, owner: str, photo_id: str, expires_in: int | None) -> tuple[Share, str]:
        """The share and the token of its link."""
        ttl = self.max_ttl if expires_in is None else expires_in
        if not 60 <= ttl <= self.max_ttl:
            raise BadRequest(f"a share link lives 60 to {self.max_ttl} seconds")
        photo = self._gallery.get(owner, photo_id)
        _check_shareable(photo)
        now = self._now()
        share = Share(secrets.token_hex(16), photo.id, owner, now, now + timedelta(seconds=ttl))
        self._shares.add(share)
        try:
            # A deletion that forgot the photo's shares before this one was added would
            # leave it behind: the photo is deleted before its shares are forgotten, so
            # seeing it still here means that forgetting is yet to come.
            self._gallery.get(owner, photo_id)
        except NotFound:
            self._shares.delete(share.id)
            raise
        return share, self.token(share)

    def token(self, share: Share) -> str:
        ttl = int((share.expires_at - self._now()).total_seconds())
        return self._codec.issue("share", share.id, max(ttl, 1))

    def of_photo(self, owner: str, photo_id: str) -> list[Share]:
        self._gallery.get(owner, photo_id)
        now = self._now()
        return [s for s in self._shares.of_photo(photo_id) if s.expires_at > now]

    def revoke(self, owner: str, photo_id: str, share_id: str) -> None:
        self._gallery.get(owner, photo_id)
        try:
            share = self._shares.get(share_id)
        except NotFound:
            raise NotFound(_GONE) from None
        if share.photo_id != photo_id or share.owner != owner:
            raise NotFound(_GONE)
        self._shares.delete(share_id)

    def forget(self, photo_id: str) -> None:
        """Remove the shares of a deleted photo."""
        for share in self._shares.of_photo(photo_id):
            self._shares.delete(share.id)

    def open(self, token: str) -> Photo:
        try:
            share = self._shares.get(self._codec.read(token, "share")["sub"])
            if share.expires_at <= self._now():
                raise NotFound(_GONE)
            photo = self._gallery.get(share.owner, share.photo_id)
            if photo.status is PhotoStatus.DUPLICATE and photo.duplicate_of:
                # Shared while it was processed, then found to be a copy: its own record
                # keeps nothing to show, the owner's photo it copies has it all.
                photo = self._gallery.get(share.owner, photo.duplicate_of)
        except (Unauthorized, NotFound):
            raise NotFound(_GONE) from None
        return photo


def _check_shareable(photo: Photo) -> None:
    """A link would show these as an empty photo. One still being processed may be shared:
    its link shows it once it is ready."""
    if photo.status is PhotoStatus.UPLOADING:
        raise Conflict(f"photo {photo.id} has not been uploaded yet; share it once it has")
    if photo.status is PhotoStatus.FAILED:
        raise Conflict(
            f"photo {photo.id} could not be processed ({photo.reason}); a link would show nothing"
        )
    if photo.status is PhotoStatus.DUPLICATE:
        raise Conflict(f"photo {photo.id} is a copy of photo {photo.duplicate_of}; share that one")
