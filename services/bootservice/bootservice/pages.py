"""The HTML pages: the country list with search and paging, and its forms.

Changes are POST-only, CSRF-checked and need a logged-in user. Bad input
shows the message on the page with a 4xx status; nothing is half-written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from . import db, writes
from .apierror import ApiError
from .auth import csrf_on_post, login_required, page_user
from .reads import get_row, list_json, not_found, path_id, read_json, snapshot
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
    # on its URL and the table's rows.
    snap = snapshot(COUNTRIES)
    if snap is None:
        return render()
    return db.read_cache().page(request.full_path, snap, render)


def _form_values() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in COUNTRIES.field_names()}


# The form's fields with their bilingual labels, in order.
FORM_FIELDS = (
    ("countryname", "国家名称 (country name)"),
    ("countrycode", "国家代码 (country code)"),
)


def _form_page(country_id: int | None, values: dict[str, Any], errors: dict[str, str]) -> str:
    return render_template(
        "country_form.html", country_id=country_id, values=values, errors=errors, fields=FORM_FIELDS
    )


def _render_form(country_id: int | None, values: dict[str, str], error: ApiError) -> Any:
    errors = error.detail if isinstance(error.detail, dict) else {}
    if not errors:
        flash(f"保存失败 (not saved): {error.error}", "error")
    else:
        flash("保存失败, 请修改标出的字段 (not saved: correct the fields marked below)", "error")
    return _form_page(country_id, values, errors), error.status


@bp.get("/countries/new")
@login_required
def new_country() -> Any:
    """An empty form for a new country."""
    return _form_page(None, {}, {})


def _save(row: Any) -> Any:
    """Validate the form and create (`row` None) or update the country."""
    values = _form_values()
    try:
        clean = COUNTRIES.validate(values, creating=row is None)
    except ApiError as exc:
        return _render_form(row.id if row is not None else None, values, exc)
    verb = "已添加 (added)" if row is None else "已保存 (saved)"
    row = writes.save(COUNTRIES, db.session(), row, clean)
    flash(f"{verb}: {row.countryname} [{row.countrycode}], id {row.id}", "success")
    return redirect(url_for("pages.countries", countryname=row.countryname))


@bp.post("/countries")
@login_required
def create_country() -> Any:
    """Create a country from the form."""
    return _save(None)


@bp.get("/countries/<raw_id>")
def show_country(raw_id: str) -> Any:
    """A country's own URL, as a visitor would guess it: its edit form for
    someone logged in (who may change it), else the list showing just it.
    An unknown id is the pages' 404."""
    row_id = path_id(COUNTRIES, raw_id)
    if page_user() is not None:
        get_row(COUNTRIES, row_id)
        return redirect(url_for("pages.edit_country", raw_id=row_id))
    found = read_json(COUNTRIES, row_id)
    return redirect(
        url_for(
            "pages.countries",
            countryname=found["countryname"],
            countrycode=found["countrycode"],
        )
    )


@bp.get("/countries/<raw_id>/edit")
@login_required
def edit_country(raw_id: str) -> Any:
    """The form filled with a country's values."""
    row = get_row(COUNTRIES, path_id(COUNTRIES, raw_id))
    return _form_page(row.id, COUNTRIES.to_json(row), {})


@bp.post("/countries/<raw_id>")
@login_required
def update_country(raw_id: str) -> Any:
    """Save the edit form."""
    return _save(get_row(COUNTRIES, path_id(COUNTRIES, raw_id), for_update=True))


@bp.post("/countries/<raw_id>/delete")
@login_required
def delete_country(raw_id: str) -> Any:
    """Delete a country, then back to the list."""
    row_id = path_id(COUNTRIES, raw_id)
    name = get_row(COUNTRIES, row_id).countryname
    if not writes.delete_row(COUNTRIES, db.session(), row_id):
        raise not_found(COUNTRIES, row_id)
    flash(f"已删除 (deleted): {name}", "success")
    return redirect(url_for("pages.countries"))


# The original service's page URLs.


@bp.get("/countries/add")
def legacy_add() -> Any:
    """The original's add form: now /countries/new."""
    return redirect(url_for("pages.new_country"), 301)


@bp.get("/countries/view/<raw_id>")
def legacy_view(raw_id: str) -> Any:
    """The original's edit form: now /countries/<id>/edit."""
    return redirect(url_for("pages.edit_country", raw_id=path_id(COUNTRIES, raw_id)), 301)


@bp.get("/countries/delete/<raw_id>")
def legacy_delete(raw_id: str) -> Any:
    """The original deleted on a GET; a link or a prefetch must not."""
    raise ApiError(
        405,
        "method not allowed",
        "删除只能在列表页用删除按钮提交 (POST); deletes are a POST from the list's delete button",
        headers={"Allow": ""},
    )
