"""The web app: a Flask app factory with one blueprint per area.

``web/`` holds no graph logic: it parses requests, calls :mod:`kg`, and
renders. Blueprints are listed in :data:`BLUEPRINTS` as "module:attribute":
a module-level Blueprint (the usual case), or a factory that takes the app and
returns one (the SPARQL endpoint, which owns the query worker pool).
"""

from __future__ import annotations

import importlib
from typing import Any

from flask import Blueprint, Flask

from kg.config import Settings, resolve

#: Areas of the app, registered in this order.
BLUEPRINTS: list[str] = [
    "web.pages:bp",
    "web.sparql:make_blueprint",
    "web.analytics:bp",
    "web.query:bp",
    "web.graph:bp",
    "web.changes:bp",
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
        module, attribute = target.split(":")
        blueprint = getattr(importlib.import_module(module), attribute)
        app.register_blueprint(blueprint if isinstance(blueprint, Blueprint) else blueprint(app))
    return app
