"""The cache: Django's Redis backend, keeping one Redis client per connection pool.

Django's backend makes a new `redis.Redis` for every call. Making one builds its table of
reply callbacks (a couple of hundred entries), which costs more CPU than the command it
then sends: an answered question rings the reply delivery with one `cache.add`, and a busy
queue answers hundreds a second. Django makes a backend per thread, each with its own pools;
each pool's client is now made once.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _SharedClients(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClients
