"""The operator's dashboard: a web page over any store that lists across owners.

`dashboard_app` is the ASGI app (Starlette); `serve_dashboard` runs it with uvicorn,
alone over a store (`taskapp dashboard`) or beside a running server's engine
(`taskapp run --dashboard`). docs/dashboard.md describes the page and its security.
"""

from __future__ import annotations

from .app import DashboardConfig as DashboardConfig
from .app import dashboard_app as dashboard_app
from .serve import serve_beside as serve_beside
from .serve import serve_dashboard as serve_dashboard

__all__ = ("DashboardConfig", "dashboard_app", "serve_beside", "serve_dashboard")
