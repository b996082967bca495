"""WSGI entry point for gunicorn: ``gunicorn provider.wsgi:app``."""

from provider.app import create_app

app = create_app()
