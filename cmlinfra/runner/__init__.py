"""Runner lifecycle: the only package that composes clouds, stacks, terraform, bootstrap and
forges into ``runner launch``, ``exec``, ``runner destroy`` and ``gc``, and the only place
that knows the order of things and the teardown rules (see docs/lifecycle.md)."""
