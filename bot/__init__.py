"""micropop bot service: attendees and organisers on Telegram."""
