"""Storage: SQLAlchemy 2 models and the queries on them.

Only this package touches ``db.session``; everything above it calls functions
here. Times are integer epoch seconds (portable across SQLite and PostgreSQL).
"""
