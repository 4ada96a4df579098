"""RPC over RabbitMQ (direct reply-to): the one way a service asks another a question inside a request."""

from polis.rpc.client import RpcClient, queue_name
from polis.rpc.contracts import contract, known_methods
from polis.rpc.errors import RpcRemoteError, RpcUnavailable
from polis.rpc.responder import RpcResponder

__all__ = [
    "RpcClient",
    "RpcRemoteError",
    "RpcResponder",
    "RpcUnavailable",
    "contract",
    "known_methods",
    "queue_name",
]
