"""One module per command group. Each module exposes ``register(root: typer.Typer)``.

The root app discovers the modules here, so adding a command group touches no other file.
Modules must import only light things at import time (typer, stdlib): ``cmlinfra --help``
imports all of them.

Convention: declare every option with ``typer.Option(...)`` (not a bare default) so that the
root app can give it its ``CML_<GROUP>_<OPTION>`` environment variable.
"""
