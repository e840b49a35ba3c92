"""Delivery: the outbox, the Telegram rate limiter and the workers that send."""
