"""The HTML pages: the country list with search and paging, and its forms.

Changes are POST-only, CSRF-checked and need a logged-in user. Bad input
shows the message on the page with a 4xx status; nothing is half-written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from . import db
from .api import get_row, list_json
from .auth import csrf_on_post, login_required
from .errors import ApiError
from .resources import COUNTRIES

bp = Blueprint("pages", __name__)


bp.before_request(csrf_on_post)


@bp.get("/")
def index() -> Any:
    """The original's home: the country list."""
    return redirect(url_for("pages.countries"))


@bp.get("/countries")
def countries() -> Any:
    """The list, filtered by name and code, one page of it."""

    def render() -> str:
        info = list_json(COUNTRIES)
        search = {
            "countryname": request.args.get("countryname", "").strip(),
            "countrycode": request.args.get("countrycode", "").strip(),
        }
        return render_template("countries.html", info=info, search=search)

    if request.cookies:
        return render()
    # No cookie, so no login and no flashed message: the page depends only
    # on its URL, and an anonymous visitor may get a copy a moment old.
    return db.read_cache().page(request.full_path, render)


def _form_values() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in COUNTRIES.field_names()}


def _render_form(country_id: int | None, values: dict[str, str], error: ApiError) -> Any:
    detail = error.detail if isinstance(error.detail, dict) else {}
    message = "; ".join(f"{k}: {v}" for k, v in detail.items()) or error.error
    flash(f"保存失败 (not saved): {message}", "error")
    page = render_template("country_form.html", country_id=country_id, values=values)
    return page, error.status


@bp.get("/countries/new")
@login_required
def new_country() -> Any:
    """An empty form for a new country."""
    return render_template("country_form.html", country_id=None, values={})


def _save(row: Any) -> Any:
    """Validate the form and create (`row` None) or update the country."""
    values = _form_values()
    try:
        clean = COUNTRIES.validate(values, creating=row is None)
    except ApiError as exc:
        return _render_form(row.id if row is not None else None, values, exc)
    verb = "已添加 (added)" if row is None else "已保存 (saved)"
    row = COUNTRIES.save(db.session(), row, clean)
    flash(f"{verb}: {row.countryname} [{row.countrycode}], id {row.id}", "success")
    return redirect(url_for("pages.countries", countryname=row.countryname))


@bp.post("/countries")
@login_required
def create_country() -> Any:
    """Create a country from the form."""
    return _save(None)


@bp.get("/countries/<raw_id>/edit")
@login_required
def edit_country(raw_id: str) -> Any:
    """The form filled with a country's values."""
    row = get_row(COUNTRIES, raw_id)
    return render_template("country_form.html", country_id=row.id, values=COUNTRIES.to_json(row))


@bp.post("/countries/<raw_id>")
@login_required
def update_country(raw_id: str) -> Any:
    """Save the edit form."""
    return _save(get_row(COUNTRIES, raw_id))


@bp.post("/countries/<raw_id>/delete")
@login_required
def delete_country(raw_id: str) -> Any:
    """Delete a country, then back to the list."""
    row = get_row(COUNTRIES, raw_id)
    name = row.countryname
    sess = db.session()
    sess.delete(row)
    sess.commit()
    flash(f"已删除 (deleted): {name}", "success")
    return redirect(url_for("pages.countries"))
