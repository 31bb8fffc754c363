"""Short-lived tokens for the status stream, so no API key ever travels in a URL.

A browser's EventSource cannot send headers, so the stream's credential goes
in its URL, where proxies and histories keep it. A client asks for a token with
its key in a header; the token names one document, its tenant and the caller,
and opens that stream only, for ``TOKEN_TTL_S``. It is signed with a secret every
gateway replica reads from Redis (drawn once by the first of them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import msgspec

from shared.redis_client import RedisClient
from shared.streams import redis_key

TOKEN_TTL_S = 60
"""How long a token may open its stream (a reconnecting EventSource asks for another)."""


class Claims(msgspec.Struct, frozen=True, array_like=True):
    document_id: str
    tenant: str
    caller: str
    expires: int


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Claims)


class StreamTokens:
    """Signs and checks stream tokens with the deployment's shared secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    async def shared(cls, redis: RedisClient, prefix: str) -> StreamTokens:
        """The signer of every replica: the secret is drawn once and kept in Redis."""
        key = redis_key(prefix, "stream-token-secret")
        await redis.set(key, secrets.token_hex(32), nx=True)
        stored = await redis.get(key)
        if stored is None:  # deleted in between: draw again
            return await cls.shared(redis, prefix)
        return cls(stored.encode() if isinstance(stored, str) else stored)

    def issue(self, document_id: str, tenant: str, caller: str) -> str:
        """A token opening ``document_id``'s stream for ``TOKEN_TTL_S``."""
        claims = Claims(document_id, tenant, caller, int(time.time()) + TOKEN_TTL_S)
        body = base64.urlsafe_b64encode(_ENCODER.encode(claims)).rstrip(b"=")
        return (body + b"." + self._sign(body)).decode()

    def check(self, token: str, document_id: str) -> Claims | None:
        """The token's claims if it is genuine, unexpired and for ``document_id``."""
        body, _, signature = token.encode().partition(b".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims = _DECODER.decode(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (msgspec.DecodeError, ValueError):
            return None
        if claims.document_id != document_id or claims.expires < time.time():
            return None
        return claims

    def _sign(self, body: bytes) -> bytes:
        digest = hmac.new(self._secret, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=")
