"""Which image formats the frames endpoint takes, recognised by their magic bytes."""

from __future__ import annotations

from typing import Literal, cast

__all__ = ["IMAGE_MAGIC", "ImageType", "UnsupportedImage", "image_type"]

ImageType = Literal["image/jpeg", "image/png"]

#: Accepted media types and the bytes every such file starts with.
IMAGE_MAGIC: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
}


class UnsupportedImage(ValueError):
    """The body is not an image of an accepted type; the message says why."""


def image_type(content_type: str | None, body: bytes) -> ImageType:
    """The declared media type, once the body's signature confirms it.

    Only the signature is checked here; decoding happens in the vision stage, off
    the request path.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    magic = IMAGE_MAGIC.get(media_type)
    if magic is None:
        accepted = " or ".join(IMAGE_MAGIC)
        raise UnsupportedImage(
            f"Content-Type {media_type or '(none)'} is not accepted: send {accepted}"
        )
    if not body:
        raise UnsupportedImage("the body is empty")
    if not body.startswith(magic):
        raise UnsupportedImage(f"the body does not start with the {media_type} signature")
    return cast(ImageType, media_type)
