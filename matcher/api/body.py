"""Reading a JSON request body: its media type checked, its size bounded while it streams in."""

from __future__ import annotations

from fastapi import HTTPException, Request

#: media types a FHIR or JSON body may be sent as
JSON_TYPES = ("application/json", "application/fhir+json")


async def json_body(request: Request, max_bytes: int, what: str = "the body") -> bytes:
    """The body, refused with 415 for another media type and with 413 as soon as it passes `max_bytes`.

    A chunked upload (no Content-Length) is counted as it arrives: a 1 GiB upload used to be read whole
    into memory before its size was checked.
    """
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise HTTPException(415, f"send {what} as application/fhir+json or application/json, not {media:.60}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"the body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
