"""The webhook bridge's exceptions.

    WebhookError              root (a StreamerError); `retriable` says whether a retry may help
    ├── AuthFailure           the caller is not let in; `reason` names why (metric label, log)
    ├── KeysUnavailable       the JWKS could not be fetched and none is cached: retriable (503)
    ├── PublishUnavailable    Kafka did not acknowledge in time: retriable, `retry_after` seconds
    └── PublishRejected       Kafka refused the records (too large, not authorised): not retriable
"""

from __future__ import annotations

from typing import Literal

from streamer.errors import StreamerError

AuthReason = Literal["missing_token", "malformed_token", "bad_signature", "expired", "wrong_role",
                     "unknown_key", "unsupported_algorithm", "invalid_claims", "wrong_audience", "wrong_issuer"]


class WebhookError(StreamerError):
    pass


class AuthFailure(WebhookError):
    """Why a request was refused; the message never holds the token. `claim` names the claim at
    fault when the token's signature was good (so only its holder learns which one)."""

    def __init__(self, reason: AuthReason, detail: str = "", *, claim: str | None = None) -> None:
        self.reason: AuthReason = reason
        self.claim = claim
        super().__init__(f"{reason}: {detail}" if detail else reason)


class KeysUnavailable(WebhookError):
    retriable = True


class PublishUnavailable(WebhookError):
    retriable = True

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PublishRejected(WebhookError):
    pass
