"""Reports posted to pull requests: metrics tables, plots, plan comments, size limits.

Everything here is a pure function of files and arguments (no forge, no network), so a report
can be built and checked locally with ``cmlinfra report build`` before a forge driver posts it.
"""
