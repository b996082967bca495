"""Flask extensions, created unbound and attached in :func:`provider.app.create_app`."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# expire_on_commit=False: a request's session is new for every request (Flask-SQLAlchemy
# removes it at teardown), and every shared counter, code or token is changed by an
# ORM-enabled conditional UPDATE that keeps the identity map in step. Expiring after
# each commit only re-read rows this request had just written or read: about one
# SELECT in four of a sign-in flow (bench/analysis.md).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()

__all__ = ["Base", "csrf", "db", "migrate"]
