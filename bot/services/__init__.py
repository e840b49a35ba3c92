"""Domain logic: transactions in, plain data objects out, no Telegram types."""
