from django.core.cache import cache


def test_every_call_uses_the_one_redis_client_of_its_pool():
    clients = [cache._cache.get_client(write=write) for write in (True, False, True)]

    assert all(client is clients[0] for client in clients)


def test_the_shared_client_reads_and_writes_as_the_cache_did():
    key = "test-cache-shared-client"
    cache.delete(key)

    added = cache.add(key, {"n": 1}, 30)
    added_again = cache.add(key, {"n": 2}, 30)

    assert (added, added_again) == (True, False)
    assert cache.get(key) == {"n": 1}
    cache.delete(key)
