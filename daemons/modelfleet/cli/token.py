"""``modelfleet token``: secrets for the fleet — a new key or token, a node's own token.

The Ansible roles issue every node its token at provisioning with ``modelfleet token node
HOST`` run on the master (the only host holding the node key); the local fleet does the same
in Python. Output is the secret alone on stdout, for a 0600 file: never logged.
"""

from __future__ import annotations

import click

from .common import die

__all__ = ["register"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the ``modelfleet`` group."""

    @cli.group("token")
    def token() -> None:
        """Fleet secrets: new keys and tokens, per-node tokens."""

    @token.command("new")
    def new() -> None:
        """Print a new random secret (256 bits): an operator token or a node key."""
        from ..tokens import new_secret

        click.echo(new_secret())

    @token.command("node")
    @click.argument("hostname")
    @click.option(
        "--key-file",
        envvar="MODELFLEET_NODE_KEY_FILE",
        required=True,
        help="0600 file with the fleet's node key [env MODELFLEET_NODE_KEY_FILE]",
    )
    def node(hostname: str, key_file: str) -> None:
        """Print the token of node HOSTNAME (its MODELFLEET_CLUSTER_TOKEN_FILE content)."""
        from ..names import InvalidName, validate_hostname
        from ..tokens import TokenError, node_token, read_token_file

        try:
            validate_hostname(hostname)
            key = read_token_file(key_file)
        except (InvalidName, TokenError) as exc:
            die(str(exc), 2)
        click.echo(node_token(key, hostname))
