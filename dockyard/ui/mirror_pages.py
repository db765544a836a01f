"""The repository's Mirrors tab: push and poll mirroring policies (list with lastMirroredAt and
lastStatus, create, delete) and "Run now", over `policies.mirror_service`. Run now queues the
same durable job the mirror worker runs for a push or a poll, for the policy's own remote; the
worker sets lastStatus when it is done.

Repository admins only, as the API's mirroring routes. Credentials go to the service, which
stores them encrypted; no page ever renders a password or token back, not even a failed form.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.api.uow import UnitOfWork
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.policies import mirror_service as mirrors
from dockyard.policies.credentials import Vault
from dockyard.policies.mirror_models import MirroringPolicy
from dockyard.policies.mirror_schemas import PollMirroringPolicyIn, PushMirroringPolicyIn
from dockyard.policies.templates import TemplateError, is_valid_tag, render_tag_template
from dockyard.ui.policy_forms import (
    EDITOR,
    admin_view,
    describe_rule,
    explain,
    recent_tags,
    rule_rows,
    rules_from_form,
)
from dockyard.ui.queries import repository_tags
from dockyard.ui.render import Page, form_value, page_context, redirect, render
from dockyard.ui.repo_pages import RepoView, undo

router = APIRouter()
BASE = "/repositories/{namespace}/{name}"
KINDS = (mirrors.PUSH, mirrors.POLL)
MESSAGES = {
    "created-push": "The push mirroring policy was created.",
    "created-poll": "The poll mirroring policy was created.",
    "deleted": "The mirroring policy was deleted.",
    "queued-push": "The tag is queued for mirroring: reload to see the policy's last status.",
    "queued-poll": "The poll is queued: reload to see the policy's last status.",
}
# The form's fields kept when a create fails; never the password or the token.
_KEPT = ("remote_host", "remote_repository", "username", "remote_ca", "tag_template")


async def _page(
    page: Page,
    session: AsyncSession,
    view: RepoView,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    # One page holds them all: a repository has at most 50 mirroring policies (the service's
    # MAX_POLICIES_PER_REPOSITORY).
    policies = await mirrors.list_policies(session, view.repo)
    push = [
        (p, [describe_rule(r) for r in p.rules])
        for p in policies
        if p.mirroring_type == mirrors.PUSH
    ]
    poll = [p for p in policies if p.mirroring_type == mirrors.POLL]
    tags = await recent_tags(session, view.repo)
    values = values or {}
    return render(
        page,
        "repository_mirrors.html",
        status=status,
        view=view,
        tab="mirrors",
        push=push,
        poll=poll,
        tags=tags,
        errors=errors or {},
        values=values,
        rules=rule_rows(values.get("rules", [])),
        editor=EDITOR,
        msg=MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.get(BASE + "/mirrors")
async def mirrors_page(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    view = await admin_view(page, session, namespace, name)
    return await _page(page, session, view)


def _body(kind: str, form: dict[str, Any]) -> PushMirroringPolicyIn | PollMirroringPolicyIn:
    fields: dict[str, Any] = {
        "remoteHost": form_value(form, "remote_host"),
        "remoteRepository": form_value(form, "remote_repository"),
        "remoteCA": form_value(form, "remote_ca"),
        "skipTLSVerification": form.get("skip_tls") == "on",
        "username": form_value(form, "username"),
        # A token is sent as the password (Basic, or the token service's login).
        "password": str(form.get("password", "")),
        "enabled": form.get("enabled") == "on",
    }
    if kind == mirrors.POLL:
        return PollMirroringPolicyIn(**fields)
    return PushMirroringPolicyIn(
        **fields,
        rules=rules_from_form(form),
        tagTemplate=form_value(form, "tag_template") or "%n",
    )


@router.post(BASE + "/mirrors/{kind}")
async def create_mirroring_policy(
    namespace: str, name: str, kind: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await admin_view(page, session, namespace, name)
    if kind not in KINDS:
        return redirect(page, f"/repositories/{namespace}/{name}/mirrors")
    try:
        body = _body(kind, form)
        vault = Vault.from_settings(page.services.settings)
        policy = await mirrors.create_policy(session, view.repo, kind, body, vault)
        if form.get("initial") == "on":
            await mirrors.evaluate_now(session, view.repo, policy)
    except (DockyardError, ValidationError) as exc:
        await undo(session, view)
        values: dict[str, Any] = {f"{kind}_{k}": form_value(form, k) for k in _KEPT}
        values.update(
            {
                "form": kind,
                f"{kind}_skip_tls": form.get("skip_tls") == "on",
                f"{kind}_enabled": form.get("enabled") == "on",
                f"{kind}_initial": form.get("initial") == "on",
                "rules": rules_from_form(form) if kind == mirrors.PUSH else [],
            }
        )
        return await _page(
            page, session, view, status=400, errors={kind: explain(exc)}, values=values
        )
    return redirect(page, f"/repositories/{namespace}/{name}/mirrors?msg=created-{kind}")


@router.post(BASE + "/mirrors/{policy_id}/delete")
async def delete_mirroring_policy(
    namespace: str,
    name: str,
    policy_id: str,
    session: UnitOfWork,
    page: Page = Depends(page_context),
) -> Response:
    await page.check_csrf()
    view = await admin_view(page, session, namespace, name)
    await mirrors.delete_policies(session, view.repo, [policy_id])
    return redirect(page, f"/repositories/{namespace}/{name}/mirrors?msg=deleted")


async def _queue_run(
    session: AsyncSession, view: RepoView, policy: MirroringPolicy, tag: str
) -> None:
    """The job the worker runs for this policy: a poll, or one tag pushed under the policy's
    template (its rules are the automatic trigger's; a run on demand pushes the tag named)."""
    if not policy.enabled:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "The policy is disabled: a run would do nothing. Delete it and create it enabled.",
        )
    if policy.mirroring_type == mirrors.POLL:
        await mirrors.enqueue(session, mirrors.POLL, view.repo.id, policy_id=policy.id)
        return
    rows = await repository_tags(session, view.repo, tag) if tag else []
    if not rows:
        raise DockyardError(
            ErrorCode.NO_SUCH_TAG, f"{view.repo.full_name} has no tag {tag!r} to mirror."
        )
    try:
        remote_tag = render_tag_template(policy.tag_template, tag, utcnow())
    except TemplateError as exc:
        raise DockyardError(ErrorCode.INVALID_TAG_NAME, str(exc)) from exc
    if not is_valid_tag(remote_tag):
        raise DockyardError(ErrorCode.INVALID_TAG_NAME, f"{remote_tag!r} is not a valid tag")
    await mirrors.enqueue(
        session,
        mirrors.PUSH,
        view.repo.id,
        policy_id=policy.id,
        tag=tag,
        digest=rows[0].tag.digest,
        remote_tag=remote_tag,
    )


@router.post(BASE + "/mirrors/{policy_id}/run")
async def run_mirroring_policy(
    namespace: str,
    name: str,
    policy_id: str,
    session: UnitOfWork,
    page: Page = Depends(page_context),
) -> Response:
    form = await page.check_csrf()
    view = await admin_view(page, session, namespace, name)
    try:
        policy = await mirrors.get_policy(session, view.repo, policy_id)
        await _queue_run(session, view, policy, form_value(form, "tag"))
    except DockyardError as exc:
        await undo(session, view)
        errors = {f"run-{policy_id[:36]}": explain(exc)}
        return await _page(page, session, view, status=400, errors=errors)
    return redirect(
        page, f"/repositories/{namespace}/{name}/mirrors?msg=queued-{policy.mirroring_type}"
    )
