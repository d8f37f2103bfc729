"""cmlinfra: continuous machine learning in CI.

The package follows the pipeline a runner goes through: ``cli`` → ``clouds`` (what a machine is)
→ ``stack`` (cdktn composition) → ``terraform`` (the engine) → ``bootstrap`` (SSH) →
``forges`` (where the review happens) → ``report``. ``runner`` composes them.
"""

__version__ = "0.1.0"
