"""Bootstrap machines over SSH: paramiko transport (:mod:`.ssh`, behind the
:class:`~.transport.Transport` Protocol), step scripts rendered from Jinja2 templates
(:mod:`.steps`), and the runner that applies them to one or many hosts (:mod:`.run`).

Knows nothing about clouds or forges: it gets an address, a user, a key and the expected host
key. Nothing is imported here, so importing a submodule stays cheap.
"""
