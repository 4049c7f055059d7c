"""The master's fixtures (tokens, bucket, settings, app, client, node simulator), shared."""

from tests.master.conftest import app, auth, bucket, client, settings, sim, tokens

__all__ = ["app", "auth", "bucket", "client", "settings", "sim", "tokens"]
