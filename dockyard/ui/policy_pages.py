"""The repository's Promotions tab: its promotion policies (list, create, delete) and "Promote
now" for one tag, over `policies.service` and `policies.engine`. The Mirrors tab's router
(`mirror_pages`) is included here, so `routes` includes one policies router; the rules editor
both share is `policy_forms`.

Repository admins only, as the API's policy routes (the tab is hidden from others and a direct
visit is refused). Each page is the request's unit of work; a form that fails is rolled back
(`repo_pages.undo`) and shown again with the service's message, never a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.api.uow import UnitOfWork
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies import engine
from dockyard.policies import service as promotions
from dockyard.policies.models import PromotionPolicy
from dockyard.policies.schemas import PromotionPolicyIn
from dockyard.repos.lookups import repository_for
from dockyard.repos.models import Repository
from dockyard.rules.permissions import AccessLevel
from dockyard.ui import mirror_pages
from dockyard.ui.policy_forms import (
    EDITOR,
    admin_view,
    describe_rule,
    explain,
    recent_tags,
    rule_rows,
    rules_from_form,
)
from dockyard.ui.policy_lists import policy_window
from dockyard.ui.queries import repository_tags
from dockyard.ui.render import Page, form_value, page_context, redirect, render
from dockyard.ui.repo_pages import RepoView, undo

router = APIRouter()
BASE = "/repositories/{namespace}/{name}"
INITIAL_EVALUATION_TAGS = 1000  # as the API's initialEvaluation

MESSAGES = {
    "created": "The promotion policy was created.",
    "deleted": "The promotion policy was deleted.",
}


async def _target(
    page: Page, session: AsyncSession, form: dict[str, Any], need: AccessLevel, what: str
) -> Repository:
    namespace = form_value(form, "target_namespace")
    name = form_value(form, "target_repository")
    if not namespace and "/" in name:
        namespace, _, name = name.partition("/")
    if not namespace or not name or "/" in name:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Name the target as a namespace and a repository in it.",
        )
    repo, _ns = await repository_for(session, page.user, namespace, name, need, what)
    return repo


async def _page(
    page: Page,
    session: AsyncSession,
    view: RepoView,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    # One page holds a repository's own policies (at most 50: MAX_POLICIES_PER_REPOSITORY);
    # those promoting into it, from any number of repositories, come in pages.
    rows = []
    for policy in await promotions.list_policies(session, view.repo):
        wire = await promotions.wire(session, policy)
        rows.append((policy, wire, [describe_rule(r) for r in policy.rules]))
    into = await policy_window(
        page, session, PromotionPolicy, PromotionPolicy.target_repository_id == view.repo.id, "in"
    )
    incoming = [await promotions.wire(session, p) for p in into.items]
    tags = await recent_tags(session, view.repo)
    values = values or {}
    query = page.request.query_params
    return render(
        page,
        "repository_promotions.html",
        status=status,
        view=view,
        tab="promotions",
        rows=rows,
        incoming=incoming,
        into=into,
        tags=tags,
        errors=errors or {},
        values=values,
        rules=rule_rows(values.get("rules", [])),
        editor=EDITOR,
        msg=MESSAGES.get(query.get("msg", "")),
        promoted=query.get("promoted") and dict(query),
    )


@router.get(BASE + "/promotions")
async def promotions_page(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    view = await admin_view(page, session, namespace, name)
    return await _page(page, session, view)


def _policy_values(form: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {
        "target_namespace": form_value(form, "target_namespace") or namespace,
        "target_repository": form_value(form, "target_repository"),
        "tag_template": form_value(form, "tag_template"),
        "enabled": form.get("enabled") == "on",
        "initial": form.get("initial") == "on",
        "rules": rules_from_form(form),
    }


@router.post(BASE + "/promotions")
async def create_promotion_policy(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await admin_view(page, session, namespace, name)
    values = _policy_values(form, namespace)
    try:
        target = await _target(page, session, form, AccessLevel.ADMIN, "promote into it")
        body = PromotionPolicyIn(
            rules=values["rules"],
            targetRepository=f"{target.namespace}/{target.name}",
            tagTemplate=values["tag_template"] or "%n",
            enabled=values["enabled"],
        )
        policy = await promotions.create_policy(session, view.repo, target, body)
        if values["initial"] and policy.enabled:
            host = page.services.registry_host
            await engine.initial_evaluation(
                session, host, policy, view.repo, INITIAL_EVALUATION_TAGS
            )
    except (DockyardError, ValidationError) as exc:
        await undo(session, view)
        return await _page(
            page, session, view, status=400, errors={"create": explain(exc)}, values=values
        )
    return redirect(page, f"/repositories/{namespace}/{name}/promotions?msg=created")


@router.post(BASE + "/promotions/{policy_id}/delete")
async def delete_promotion_policy(
    namespace: str,
    name: str,
    policy_id: str,
    session: UnitOfWork,
    page: Page = Depends(page_context),
) -> Response:
    await page.check_csrf()
    view = await admin_view(page, session, namespace, name)
    await promotions.delete_policy(session, view.repo, policy_id)
    return redirect(page, f"/repositories/{namespace}/{name}/promotions?msg=deleted")


@router.post(BASE + "/promotion")
async def promote_now(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    """A manual promotion (read on the source, write on the target, as the API's)."""
    form = await page.check_csrf()
    view = await admin_view(page, session, namespace, name)
    tag = form_value(form, "tag")
    target_tag = form_value(form, "target_tag") or tag
    try:
        rows = await repository_tags(session, view.repo, tag) if tag else []
        if not rows:
            raise DockyardError(
                ErrorCode.NO_SUCH_TAG, f"{view.repo.full_name} has no tag {tag!r} to promote."
            )
        target = await _target(page, session, form, AccessLevel.READ_WRITE, "push to it")
        done = await engine.promote(
            session,
            page.services.registry_host,
            view.repo,
            rows[0].tag,
            target,
            target_tag,
            author=page.user.name,
        )
    except DockyardError as exc:
        await undo(session, view)
        values = {
            "promote_tag": tag,
            "promote_namespace": form_value(form, "target_namespace"),
            "promote_repository": form_value(form, "target_repository"),
            "promote_target_tag": form_value(form, "target_tag"),
        }
        return await _page(
            page, session, view, status=400, errors={"promote": explain(exc)}, values=values
        )
    result = done.wire()
    query = "&".join(
        f"{key}={quote(str(result[field]), safe='')}"
        for key, field in (
            ("promoted", "targetTag"),
            ("into", "targetRepository"),
            ("source", "sourceTag"),
            ("digest", "digest"),
        )
    )
    return redirect(page, f"/repositories/{namespace}/{name}/promotions?{query}")


router.include_router(mirror_pages.router)
