"""Telegram front end: aiogram routers, middlewares, keyboards and texts."""
