"""Reading a detect request's image and parameters from a Starlette request (the server and Ray Serve share it)."""

from __future__ import annotations

from typing import Any

from .protocol import ServeError, check_content_type, check_image_bytes


async def read_detect_request(request: Any, max_body_bytes: int) -> tuple[bytes, str, dict[str, str]]:
    """The image bytes, a name for them, and the request's parameters (query string, then multipart fields).

    Raises :class:`ServeError` 413 (too large), 415 (not an image type or format), 400 (empty, bad multipart).
    """
    kind = check_content_type(request.headers.get("content-type"))
    body = await read_body(request, max_body_bytes)
    query: dict[str, str] = dict(request.query_params)
    name = "<body>"
    if kind == "multipart":
        body, name, fields = await read_multipart(request.scope, body)
        query.update(fields)
    check_image_bytes(body, name)
    return body, name, query


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, or 413 once it is known to exceed ``limit`` bytes.

    A body up to twice the limit is read to its end and dropped before answering, so the client (which may
    still be sending) reads the 413 instead of a connection reset; a larger one is refused at once, closing.
    """
    reason = f"body larger than --max-body-mb ({limit / 2**20:g} MiB)"
    refuse_now = ServeError(413, reason, {"Connection": "close"})
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > 2 * limit:
        raise refuse_now
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > 2 * limit:
            raise refuse_now
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise ServeError(413, reason)
    return b"".join(chunks)


async def read_multipart(scope: dict, body: bytes) -> tuple[bytes, str, dict[str, str]]:
    """The uploaded file's bytes and name, and the plain form fields (thresholds may come as fields)."""
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, replay).form(max_files=1, max_fields=32)
    except HTTPException as e:
        raise ServeError(400, f"bad multipart body: {e.detail}") from e
    except Exception as e:  # the multipart parser's own errors
        raise ServeError(400, f"bad multipart body: {e}") from e
    try:
        files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise ServeError(400, "multipart body has no file: send the image as a file field (e.g. 'image')")
        upload = files[0][1]
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return data, upload.filename or files[0][0], fields
    finally:
        await form.close()
