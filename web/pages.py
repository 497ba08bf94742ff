"""Pages blueprint (placeholder until the web issue lands: a dashboard with counts)."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, render_template_string

from .state import get_graph


def make_blueprint(app: Flask) -> Blueprint:
    bp = Blueprint("pages", __name__)

    @bp.get("/")
    def index():
        stats = get_graph().stats()
        return render_template_string(
            "{% extends 'base.html' %}{% block content %}<h1>tcell-kg</h1><ul>"
            "{% for k, v in stats.items() %}<li>{{ k }}: {{ v }}</li>{% endfor %}</ul>{% endblock %}",
            stats=stats,
        )

    @bp.get("/stats.json")
    def stats_json():
        return jsonify(get_graph().stats())

    return bp
