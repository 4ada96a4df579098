"""Whether IAM holds an account, asked over polis.rpc only when the read model does not know it.

A message for an account no fact has described yet is normally retried: the fact may be on its way (it
failed once and sits in a retry queue, or another producer's event overtook IAM's). When IAM itself says it
has no such account, the account can never appear (IAM writes an account in the same transaction as its
first event, and never deletes one before its events): the message is parked at once instead of after the
retries, about 12 minutes with the default delays. IAM unreachable means "don't know": retried as before.
"""

from __future__ import annotations

import logging

from polis.rpc import RpcClient, RpcRemoteError, RpcUnavailable

log = logging.getLogger("notifier.accounts.iam")

ACCOUNT_EXISTS = "iam.account_exists"
TIMEOUT_SECONDS = 2.0  # asked inside the consumer's transaction: short, and only on this rare path

_client: RpcClient | None = None


def configure(client: RpcClient | None) -> None:
    """The worker's RPC client (None: never ask, every unknown account is retried)."""
    global _client
    _client = client


def can_never_appear(account_id: str) -> bool:
    """True only when IAM answered that it has no such account."""
    if _client is None:
        return False
    try:
        reply = _client.call(ACCOUNT_EXISTS, {"account_id": account_id}, timeout=TIMEOUT_SECONDS)
    except (RpcUnavailable, RpcRemoteError) as error:
        log.info(
            "IAM could not say whether account %s exists (%s): retried", account_id, type(error).__name__
        )
        return False
    return reply["exists"] is False
