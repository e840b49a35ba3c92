"""The bot service's aiohttp application: webhook, health, metrics, venue feed, short links."""
