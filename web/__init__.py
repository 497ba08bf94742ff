"""The web app: a Flask app factory with one blueprint per area.

``web/`` holds no graph logic: it parses requests, calls :mod:`kg`, and
renders. Blueprints are listed in :data:`BLUEPRINTS` as "module:factory";
each factory takes the app and returns a Blueprint.
"""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask

from kg.config import Settings, resolve

#: Areas of the app, registered in this order.
BLUEPRINTS: list[str] = [
    "web.pages:make_blueprint",
    "web.sparql:make_blueprint",
    "web.analytics:make_blueprint",
    "web.query:make_blueprint",
    "web.graph:make_blueprint",
    "web.changes:make_blueprint",
]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides settings (see kg.config.SETTINGS);
    keys that are not tcell-kg settings go to Flask's config."""
    config = dict(config or {})
    flask_config = {k: config.pop(k) for k in list(config) if k.isupper()}
    settings: Settings = resolve(config)
    app = Flask(__name__)
    app.config.update(flask_config)
    app.config["TKG"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    from .errors import register_error_handlers
    from .state import init_state

    init_state(app, settings)
    from .security import init_security

    init_security(app, settings)
    register_error_handlers(app)
    for target in BLUEPRINTS:
        module, factory = target.split(":")
        app.register_blueprint(getattr(importlib.import_module(module), factory)(app))
    return app
