"""Server-side sessions with a per-user index (ARCHITECTURE §8).

`policy` decides when a session has ended (pure), `repository` keeps records (Redis in production,
memory in the embedded demo), `backend` is the Django session engine on top of them.
"""
