"""gunicorn settings for the gateway, from the environment."""

import os

bind = os.environ.get("GATEWAY_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
# Threads suit a proxy: most of a request's time is spent waiting for a service.
worker_class = "gthread"
threads = int(os.environ.get("GATEWAY_THREADS", "8"))
# Longer than the read timeout towards the services, so the gateway answers 504 before gunicorn kills it.
timeout = int(os.environ.get("GATEWAY_WORKER_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Request lines are logged by the app as JSON (with the request id); gunicorn's would be duplicates.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("GATEWAY_FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    # With PROMETHEUS_MULTIPROC_DIR set, drop a dead worker's live gauges from the shared metrics.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
