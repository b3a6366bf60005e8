"""The HTTP edge: create_app() and one router module per audience."""

from geo311.api.app import create_app

__all__ = ["create_app"]
