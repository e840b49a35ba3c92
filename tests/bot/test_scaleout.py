"""The bot service's wiring for several processes: Redis FSM, shared limiter, one leader."""

from __future__ import annotations

import uuid

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from bot.delivery.limiter import Limiter
from bot.delivery.redis_limiter import RedisLimiter
from bot.errors import ConfigError
from bot.rehearsal.stage import BOT_TOKEN
from bot.service import BotService
from bot.settings import load_settings


def settings_for(database_url: str, **overrides: object):
    return load_settings(
        bot_token=BOT_TOKEN,
        database_url=database_url,
        api_base_url="http://127.0.0.1:9",
        web_listen="127.0.0.1:0",
        **overrides,
    )


async def close(service: BotService) -> None:
    """Release what the constructor opened, for a service that was never started."""
    await service.limiter.close()
    await service.dispatcher.storage.close()
    if service.redis is not None:
        await service.redis.aclose()
    await service.bot.session.close()
    await service.db.dispose()
    service.scheduler._writes.shutdown()
    service.scheduler._store_engine.dispose()


async def test_without_redis_state_and_limits_stay_in_process(sqlite_url):
    service = BotService(settings_for(sqlite_url))
    limiter, storage = service.limiter, service.dispatcher.storage
    await close(service)

    assert isinstance(limiter, Limiter)
    assert isinstance(storage, MemoryStorage)


@pytest.mark.redis
async def test_fsm_state_shared_through_redis(sqlite_url, redis_url):
    prefix = f"micropop-test-{uuid.uuid4().hex[:10]}"
    first = BotService(settings_for(sqlite_url, redis_url=redis_url, redis_prefix=prefix))
    second = BotService(settings_for(sqlite_url, redis_url=redis_url, redis_prefix=prefix))
    key = StorageKey(bot_id=4242, chat_id=77, user_id=77)

    await first.dispatcher.storage.set_state(key, "Announce:text")
    await first.dispatcher.storage.set_data(key, {"draft": "Doors open"})
    state = await second.dispatcher.storage.get_state(key)
    data = await second.dispatcher.storage.get_data(key)
    await first.dispatcher.storage.set_state(key, None)
    await first.dispatcher.storage.set_data(key, {})
    kinds = (type(first.limiter), type(second.dispatcher.storage))
    await close(first)
    await close(second)

    assert state == "Announce:text"
    assert data == {"draft": "Doors open"}
    assert kinds == (RedisLimiter, RedisStorage)


@pytest.mark.redis
async def test_fsm_keys_carry_prefix(sqlite_url, redis_url):
    prefix = f"micropop-test-{uuid.uuid4().hex[:10]}"
    service = BotService(settings_for(sqlite_url, redis_url=redis_url, redis_prefix=prefix))
    key = StorageKey(bot_id=4242, chat_id=78, user_id=78)

    await service.dispatcher.storage.set_state(key, "Announce:text")
    client = Redis.from_url(redis_url)
    stored = [name async for name in client.scan_iter(match=f"{prefix}:fsm:*")]
    await service.dispatcher.storage.set_state(key, None)
    await client.aclose()
    await close(service)

    assert stored == [f"{prefix}:fsm:4242:78:78:state".encode()]


async def test_unreachable_redis_makes_health_check_fail(sqlite_url):
    service = BotService(settings_for(sqlite_url, redis_url="redis://127.0.0.1:1/0"))

    healthy = await service.check_health()
    await close(service)

    assert healthy is False


@pytest.mark.postgres
async def test_lone_postgres_process_leads_from_start(pg_stage):
    assert pg_stage.bot.leadership.is_leader is True
    assert pg_stage.bot.scheduler.paused is False


async def test_sqlite_process_leads_from_start(stage):
    assert stage.bot.leadership.is_leader is True
    assert stage.bot.scheduler.paused is False


def test_redis_prefix_with_braces_rejected(sqlite_url):
    with pytest.raises(ConfigError, match="MICROPOP_REDIS_PREFIX is invalid"):
        settings_for(sqlite_url, redis_prefix="{micropop}")
