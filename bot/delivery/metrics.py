"""Prometheus metrics of delivery, served on the web app's /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "micropop_deliveries_total", "Deliveries that reached a final state.", ["state"]
)
HTTP_429 = Counter("micropop_telegram_429_total", "429 answers from the Bot API.")
QUEUE_DEPTH = Gauge("micropop_outbox_queue_depth", "Deliveries pending or being sent.")
SEND_LATENCY = Histogram(
    "micropop_send_latency_seconds",
    "Time of one Bot API send, request to response.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRIES = Counter("micropop_delivery_retries_total", "Sends retried after a transient error.")
