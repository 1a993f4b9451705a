"""Spiders: the generic definition-driven spider and any platform-specific code spiders."""
