"""The response cache: a request answered before is answered again without sending.

``key.py`` (what a request is), ``store.py`` (the SQLite file), ``cache.py`` (the lookup on
the request path), ``explain.py`` (why a prompt missed), ``__main__.py`` (the command).
"""
