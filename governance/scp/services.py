"""Every change to an organization policy is a change request: proposed, approved by another policy
admin (four-eyes), applied through the writer gate, and audited at each step.

- `propose_change` validates before anything is stored: the document's diagnostics
  (governance/scp/diagnostics.py), AWS's attachment limits (at most 5 SCPs or RCPs per target, a
  target keeps at least one SCP, AWS's own full-access policies are never edited), and a reason.
- `approve_change` refuses the author whatever else they hold; the view adds MFA step-up.
- `apply_change` re-reads the policy from AWS first: a document that changed since the request was
  written makes the request STALE until its author rebases it (`rebase_change`). The write runs
  through `governance.authz.aws_writes.perform_write` (the actor's own AWS permissions, SourceIdentity,
  the AWS request id); a failure leaves the request FAILED and retryable.

An AWS write cannot be rolled back with a database transaction, so applying is three steps: mark the
request APPLYING (one transaction, audited), write to AWS, then record the outcome (one transaction,
audited). A request left APPLYING by a crash (or a database lost between the write and its record)
is shown as such; once it has been applying for STUCK_AFTER, a policy admin reconciles it with AWS
(`reconcile_applying`): what AWS holds says whether the write landed, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit.services import record
from governance.authz.capabilities import Capability, capabilities
from governance.inventory.ingest import canonical_json, digest
from governance.inventory.models import Account, Organization, OrganizationalUnit, Policy, PolicyKind, ScpAttachment
from governance.scp import diagnostics
from governance.scp.effective import FULL_ACCESS_NAMES
from governance.scp.models import (
    ChangeKind,
    ChangeRequest,
    ChangeStatus,
    ImpactStatus,
    PolicyRevision,
    PolicyType,
    RevisionSource,
)

MAX_ATTACHED = 5  # Organizations quota: SCPs (and RCPs) attached directly to one root, OU or account
MAX_NAME = 128


class ChangeError(ValueError):
    """The change cannot be made as asked; `problems` lists what to fix (diagnostics included)."""

    def __init__(self, message: str, problems: list[Any] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FourEyesError(ChangeError):
    """The author of a change request tried to approve it."""


def document_hash(document: Any) -> str:
    """The inventory's hash of a policy document (`Policy.document_hash`), so the two compare."""
    return digest(canonical_json(document)) if document is not None else ""


def _org() -> Organization:
    org = Organization.objects.present().order_by("id").first()
    if org is None:
        raise ChangeError("The organization has not been synced yet.")
    return org


def _audit_state(change: ChangeRequest) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "policy_type": change.policy_type,
        "status": change.status,
        "aws_policy_id": change.aws_policy_id,
        "name": change.name,
        "target_id": change.target_id,
        "document_hash": document_hash(change.document),
        "base_hash": change.base_hash,
        "aws_request_id": change.aws_request_id,
    }


@dataclass(frozen=True)
class Target:
    target_id: str
    target_type: str
    name: str
    unit_pk: int | None = None
    account_pk: int | None = None


def resolve_target(target_id: str) -> Target:
    target_id = (target_id or "").strip()
    if target_id.isdigit() and len(target_id) == 12:
        account = Account.objects.present().filter(account_id=target_id).first()
        if account is not None:
            return Target(target_id, "ACCOUNT", account.name, account_pk=account.pk)
    unit = OrganizationalUnit.objects.present().filter(ou_id=target_id).first() if target_id else None
    if unit is not None:
        return Target(target_id, "ROOT" if unit.is_root else "ORGANIZATIONAL_UNIT", unit.name, unit_pk=unit.pk)
    raise ChangeError(f"{target_id or 'An empty target'!r} is not a root, OU or account of the organization.")


def _attached(target: Target, kind: str) -> list[Policy]:
    where = Q(unit_id=target.unit_pk) if target.unit_pk else Q(account_id=target.account_pk)
    attachments = ScpAttachment.objects.present().filter(where, policy__kind=kind, policy__removed_at__isnull=True)
    return [a.policy for a in attachments.select_related("policy").order_by("policy__name")]


def _check_attach(policy: Policy, target: Target) -> None:
    attached = _attached(target, policy.kind)
    if any(p.pk == policy.pk for p in attached):
        raise ChangeError(f"{policy.name} is already attached to {target.name} ({target.target_id}).")
    pending = ChangeRequest.objects.open().filter(
        kind=ChangeKind.ATTACH, target_id=target.target_id, policy_type=policy.kind
    )
    if len(attached) + pending.count() >= MAX_ATTACHED:
        label = policy.kind.upper()
        raise ChangeError(
            f"{target.name} ({target.target_id}) already has {len(attached)} {label}s attached"
            f"{f' and {pending.count()} pending' if pending.exists() else ''}: AWS allows at most {MAX_ATTACHED} "
            f"per root, OU or account. Detach one first, or merge their statements into one policy."
        )


def _check_detach(policy: Policy, target: Target) -> None:
    attached = _attached(target, policy.kind)
    if not any(p.pk == policy.pk for p in attached):
        raise ChangeError(f"{policy.name} is not attached to {target.name} ({target.target_id}).")
    if policy.kind == PolicyKind.RCP and policy.name == FULL_ACCESS_NAMES[PolicyKind.RCP]:
        raise ChangeError("RCPFullAWSAccess cannot be detached: AWS keeps it on every root, OU and account.")
    if policy.kind == PolicyKind.SCP and len(attached) <= 1:
        raise ChangeError(
            f"{policy.name} is the last SCP on {target.name} ({target.target_id}): AWS requires every root, OU and "
            "account to keep at least one SCP. Attach another first (FullAWSAccess to allow everything the levels "
            "above allow)."
        )


def _checked_document(text: str, kind: str) -> Any:
    found = diagnostics.diagnose(text, kind)
    errors = [d for d in found if d.severity == "error"]
    if errors:
        raise ChangeError(
            f"The policy has {len(errors)} error{'s' if len(errors) > 1 else ''}: "
            + "; ".join(f"{d.message}{f' (line {d.line})' if d.line else ''}" for d in errors[:5]),
            problems=found,
        )
    return json.loads(text)


def propose_change(
    *,
    actor: Any,
    kind: str,
    reason: str,
    policy: Policy | None = None,
    policy_type: str = PolicyType.SCP,
    name: str = "",
    description: str = "",
    document_text: str = "",
    target_id: str = "",
    rollback_to: PolicyRevision | None = None,
    request: Any = None,
) -> ChangeRequest:
    """Validate and store a change request (PENDING); nothing is sent to AWS."""
    if not capabilities(actor).has(Capability.SCP_PROPOSE):
        raise ChangeError("Only policy admins may propose changes to organization policies.")
    if kind not in ChangeKind.values:
        raise ChangeError(f"Unknown change {kind!r}.")
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ChangeError("Say why (at least 10 characters): the approver and the audit trail need the reason.")
    fields: dict[str, Any] = {"kind": kind, "reason": reason, "rollback_to": rollback_to}
    if kind == ChangeKind.CREATE:
        if policy_type not in PolicyType.values:
            raise ChangeError(f"Unknown policy type {policy_type!r}.")
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME:
            raise ChangeError(f"A policy needs a name of 1 to {MAX_NAME} characters.")
        if Policy.objects.present().filter(kind=policy_type, name=name).exists():
            raise ChangeError(f"A {policy_type.upper()} named {name!r} already exists.")
        document = _checked_document(document_text, policy_type)
        fields.update(policy_type=policy_type, name=name, description=description.strip()[:512])
        fields.update(document=document, document_text=document_text)
    else:
        if policy is None or policy.kind not in PolicyType.values or policy.removed_at is not None:
            raise ChangeError("Choose an SCP or RCP the organization holds.")
        fields.update(
            policy=policy,
            policy_type=policy.kind,
            aws_policy_id=policy.aws_policy_id,
            name=policy.name,
            description=policy.description,
            base_document=policy.document,
            base_hash=policy.document_hash,
        )
        aws_owned = policy.name == FULL_ACCESS_NAMES.get(policy.kind) and policy.organization_id is not None
        if kind in (ChangeKind.UPDATE, ChangeKind.DELETE) and aws_owned:
            raise ChangeError(f"{policy.name} is AWS's own policy: it cannot be edited or deleted, only detached.")
        if kind == ChangeKind.UPDATE:
            document = _checked_document(document_text, policy.kind)
            if document_hash(document) == policy.document_hash:
                raise ChangeError("The proposal is the policy as it is: nothing would change.")
            fields.update(document=document, document_text=document_text)
        elif kind == ChangeKind.DELETE:
            if ScpAttachment.objects.present().filter(policy=policy).exists():
                raise ChangeError(f"{policy.name} is still attached: AWS deletes only a policy attached nowhere.")
        elif kind in (ChangeKind.ATTACH, ChangeKind.DETACH):
            target = resolve_target(target_id)
            (_check_attach if kind == ChangeKind.ATTACH else _check_detach)(policy, target)
            fields.update(target_id=target.target_id, target_type=target.target_type, target_name=target.name)
        elif kind == ChangeKind.ADOPT:
            fields.update(document=policy.document, document_text=json.dumps(policy.document, indent=2))
    with transaction.atomic():
        change = ChangeRequest.objects.create(
            **fields, author=actor, author_name=_name(actor), status=ChangeStatus.PENDING
        )
        record(
            actor=actor,
            action="scp.change.proposed",
            obj=change,
            after={**_audit_state(change), "reason": reason},
            request=request,
        )
        transaction.on_commit(lambda: _queue_impact(change.pk))
    return change


def _queue_impact(change_id: int) -> None:
    from governance.scp.tasks import queue_impact

    queue_impact(change_id)


def _name(user: Any) -> str:
    return (user.get_full_name() or user.email or user.username)[:256]


def _locked(change_id: int) -> ChangeRequest:
    return ChangeRequest.objects.select_for_update().get(pk=change_id)


def _fresh_base(change: ChangeRequest) -> tuple[bool, Any]:
    """Whether AWS still holds the document the request was written against, and what it holds."""
    if change.kind in (ChangeKind.CREATE, ChangeKind.ATTACH, ChangeKind.DETACH):
        return True, None
    from governance.aws.readers.org_policies import read_policy

    current = read_policy(change.aws_policy_id).document
    return document_hash(current) == change.base_hash, current


def approve_change(*, change: ChangeRequest, actor: Any, note: str = "", request: Any = None) -> ChangeRequest:
    """Four-eyes approval: another policy admin than the author; the request must still fit AWS."""
    if not capabilities(actor).has(Capability.SCP_APPROVE):
        raise ChangeError("Only policy admins may approve changes to organization policies.")
    if change.author_id == actor.pk:
        raise FourEyesError("You wrote this change request: another policy admin must approve it (four-eyes).")
    if change.status != ChangeStatus.PENDING:
        raise ChangeError(
            f"Only a request awaiting approval can be approved; this one is {change.get_status_display().lower()}."
        )
    if change.impact_status != ImpactStatus.DONE:
        raise ChangeError("The impact analysis has not finished: approve once it shows who would lose what.")
    fresh, _current = _fresh_base(change)
    with transaction.atomic():
        locked = _locked(change.pk)
        if locked.status != ChangeStatus.PENDING:
            raise ChangeError("Someone else decided this request meanwhile.")
        before = _audit_state(locked)
        if not fresh:
            locked.status = ChangeStatus.STALE
            locked.error = "The policy changed in AWS since this request was written: its author must rebase it."
            locked.save(update_fields=["status", "error", "updated_at"])
            record(
                actor=actor,
                action="scp.change.stale",
                obj=locked,
                before=before,
                after=_audit_state(locked),
                request=request,
            )
            return locked
        locked.status = ChangeStatus.APPROVED
        locked.approved_by = actor
        locked.approved_at = timezone.now()
        locked.decided_note = note.strip()
        locked.save(update_fields=["status", "approved_by", "approved_at", "decided_note", "updated_at"])
        record(
            actor=actor,
            action="scp.change.approved",
            obj=locked,
            before=before,
            after={**_audit_state(locked), "note": locked.decided_note},
            request=request,
        )
    return locked


def reject_change(*, change: ChangeRequest, actor: Any, note: str, request: Any = None) -> ChangeRequest:
    if not capabilities(actor).has(Capability.SCP_APPROVE):
        raise ChangeError("Only policy admins may reject changes.")
    if not (note or "").strip():
        raise ChangeError("Say why the request is rejected.")
    return _close(change, actor, ChangeStatus.REJECTED, "scp.change.rejected", note, request)


def cancel_change(*, change: ChangeRequest, actor: Any, request: Any = None) -> ChangeRequest:
    if change.author_id != actor.pk:
        raise ChangeError("Only the author can withdraw a change request.")
    return _close(change, actor, ChangeStatus.CANCELLED, "scp.change.cancelled", "", request)


def _close(change: ChangeRequest, actor: Any, status: str, action: str, note: str, request: Any) -> ChangeRequest:
    with transaction.atomic():
        locked = _locked(change.pk)
        if not locked.is_open:
            raise ChangeError(f"This request is already {locked.get_status_display().lower()}.")
        before = _audit_state(locked)
        locked.status = status
        locked.decided_note = (note or "").strip()
        locked.save(update_fields=["status", "decided_note", "updated_at"])
        record(
            actor=actor,
            action=action,
            obj=locked,
            before=before,
            after={**_audit_state(locked), "note": locked.decided_note},
            request=request,
        )
    return locked


def rebase_change(*, change: ChangeRequest, actor: Any, request: Any = None) -> ChangeRequest:
    """Take what AWS holds now as the request's base; it needs approval (and impact) again."""
    if change.author_id != actor.pk:
        raise ChangeError("Only the author can rebase a change request.")
    if change.status not in (ChangeStatus.STALE, ChangeStatus.PENDING, ChangeStatus.FAILED):
        raise ChangeError(f"A request that is {change.get_status_display().lower()} cannot be rebased.")
    from governance.aws.readers.org_policies import read_policy

    current = read_policy(change.aws_policy_id).document if change.aws_policy_id else None
    with transaction.atomic():
        locked = _locked(change.pk)
        before = _audit_state(locked)
        locked.base_document = current
        locked.base_hash = document_hash(current)
        if locked.kind == ChangeKind.ADOPT:
            locked.document = current
            locked.document_text = json.dumps(current, indent=2)
        locked.status = ChangeStatus.PENDING
        locked.approved_by = None
        locked.approved_at = None
        locked.error = ""
        locked.impact_status = ImpactStatus.NONE
        locked.save()
        record(
            actor=actor,
            action="scp.change.rebased",
            obj=locked,
            before=before,
            after=_audit_state(locked),
            request=request,
        )
        transaction.on_commit(lambda: _queue_impact(locked.pk))
    return locked


_WRITES = {
    ChangeKind.CREATE: "organizations:CreatePolicy",
    ChangeKind.UPDATE: "organizations:UpdatePolicy",
    ChangeKind.DELETE: "organizations:DeletePolicy",
    ChangeKind.ATTACH: "organizations:AttachPolicy",
    ChangeKind.DETACH: "organizations:DetachPolicy",
}


def _call(change: ChangeRequest):
    text = change.document_text or (json.dumps(change.document) if change.document is not None else "")

    def call(clients):
        org = clients("organizations")
        if change.kind == ChangeKind.CREATE:
            return org.create_policy(
                Content=text,
                Description=change.description,
                Name=change.name,
                Type=PolicyType(change.policy_type).aws_filter,
            )
        if change.kind == ChangeKind.UPDATE:
            return org.update_policy(PolicyId=change.aws_policy_id, Content=text)
        if change.kind == ChangeKind.DELETE:
            return org.delete_policy(PolicyId=change.aws_policy_id)
        if change.kind == ChangeKind.ATTACH:
            return org.attach_policy(PolicyId=change.aws_policy_id, TargetId=change.target_id)
        return org.detach_policy(PolicyId=change.aws_policy_id, TargetId=change.target_id)

    return call


def _check_target_in_aws(change: ChangeRequest) -> str:
    """AWS's attachment rules against what AWS holds now ("" when the change still fits)."""
    from governance.aws.readers.org_policies import policies_for_target

    attached = policies_for_target(change.target_id, PolicyType(change.policy_type).aws_filter)
    if change.kind == ChangeKind.ATTACH:
        if change.aws_policy_id in attached:
            return "The policy is already attached there in AWS."
        if len(attached) >= MAX_ATTACHED:
            return f"The target already has {len(attached)} of these attached in AWS (at most {MAX_ATTACHED})."
    else:
        if change.aws_policy_id not in attached:
            return "The policy is no longer attached there in AWS."
        if change.policy_type == PolicyType.SCP and len(attached) <= 1:
            return "It is the last SCP on the target in AWS; a target keeps at least one."
    return ""


def apply_change(*, change: ChangeRequest, actor: Any, request: Any = None) -> ChangeRequest:
    """Write the approved change to AWS through the writer gate (see the module docstring)."""
    from governance.authz.aws_writes import WriteRefusedError, perform_write
    from governance.aws.errors import AwsError
    from governance.aws.writer import WriterError

    if not capabilities(actor).has(Capability.SCP_APPROVE):
        raise ChangeError("Only policy admins may apply changes to organization policies.")
    with transaction.atomic():
        locked = _locked(change.pk)
        if locked.status not in (ChangeStatus.APPROVED, ChangeStatus.FAILED) or locked.approved_by_id is None:
            raise ChangeError(
                f"Only an approved request can be applied; this one is {locked.get_status_display().lower()}."
            )
        before = _audit_state(locked)
        locked.status = ChangeStatus.APPLYING
        locked.attempts += 1
        locked.save(update_fields=["status", "attempts", "updated_at"])
        record(
            actor=actor,
            action="scp.change.apply_started",
            obj=locked,
            before=before,
            after=_audit_state(locked),
            request=request,
        )
    org = _org()
    try:
        fresh, current = _fresh_base(locked)
        problem = (
            "" if fresh else "The policy changed in AWS since this request was written: its author must rebase it."
        )
        if fresh and locked.kind in (ChangeKind.ATTACH, ChangeKind.DETACH):
            problem = _check_target_in_aws(locked)
        if problem:
            return _finish(
                locked, actor, request, status=ChangeStatus.STALE if not fresh else ChangeStatus.FAILED, error=problem
            )
        if locked.kind == ChangeKind.ADOPT:
            return _finish(locked, actor, request, status=ChangeStatus.APPLIED, document=current)
        policy_arn = locked.policy.arn if locked.policy_id else "*"
        response = perform_write(
            actor=actor,
            action=_WRITES[ChangeKind(locked.kind)],
            resource=policy_arn,
            account_id=org.management_account_id,
            call=_call(locked),
            request=request,
            before={"change_request": locked.pk, "base_hash": locked.base_hash},
            after={"change_request": locked.pk, **_audit_state(locked)},
        )
    except (AwsError, WriteRefusedError, WriterError) as exc:
        return _finish(locked, actor, request, status=ChangeStatus.FAILED, error=str(getattr(exc, "reason", "") or exc))
    from governance.aws.writer import request_id

    created_id = ((response or {}).get("Policy") or {}).get("PolicySummary", {}).get("Id", "")
    return _finish(
        locked,
        actor,
        request,
        status=ChangeStatus.APPLIED,
        aws_request_id=request_id(response or {}),
        created_id=created_id,
    )


def _finish(
    change: ChangeRequest,
    actor: Any,
    request: Any,
    *,
    status: str,
    error: str = "",
    aws_request_id: str = "",
    created_id: str = "",
    document: Any = None,
) -> ChangeRequest:
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(change.pk)
        before = _audit_state(locked)
        locked.status = status
        locked.error = error[:4000]
        update = ["status", "error", "updated_at"]
        if status == ChangeStatus.APPLIED:
            locked.applied_by, locked.applied_at, locked.aws_request_id = actor, now, aws_request_id
            update += ["applied_by", "applied_at", "aws_request_id"]
            if created_id:
                locked.aws_policy_id = created_id
                update.append("aws_policy_id")
            if locked.kind == ChangeKind.ADOPT:
                locked.document = document
                update.append("document")
        locked.save(update_fields=update)
        if status == ChangeStatus.APPLIED and locked.kind in (
            ChangeKind.CREATE,
            ChangeKind.UPDATE,
            ChangeKind.DELETE,
            ChangeKind.ADOPT,
        ):
            deleted = locked.kind == ChangeKind.DELETE
            PolicyRevision.objects.create(
                aws_policy_id=locked.aws_policy_id,
                policy_type=locked.policy_type,
                name=locked.name,
                document=None if deleted else locked.document,
                document_hash="" if deleted else document_hash(locked.document),
                deleted=deleted,
                source=RevisionSource.ADOPTED if locked.kind == ChangeKind.ADOPT else RevisionSource.APPLIED,
                change=locked,
                created_at=now,
            )
        action = {
            ChangeStatus.APPLIED: "scp.change.applied",
            ChangeStatus.STALE: "scp.change.stale",
        }.get(status, "scp.change.apply_failed")
        record(
            actor=actor,
            action=action,
            obj=locked,
            before=before,
            after={**_audit_state(locked), "error": locked.error},
            request=request,
        )
    return locked


STUCK_AFTER_MINUTES = 15
STUCK_AFTER = timedelta(minutes=STUCK_AFTER_MINUTES)


def reconcile_applying(*, change: ChangeRequest, actor: Any, request: Any = None) -> ChangeRequest:
    """Settle a request left APPLYING from what AWS holds now: the write landed (APPLIED; its AWS
    request id was lost with the apply, which the record says), it did not (FAILED, to apply
    again), or the policy has moved on since (STALE, for its author to rebase). Only a policy
    admin, and only after STUCK_AFTER: an apply still running is not a stuck one. When AWS cannot
    be read, nothing changes (the error says why)."""
    if not capabilities(actor).has(Capability.SCP_APPROVE):
        raise ChangeError("Only policy admins may reconcile changes to organization policies.")
    current = ChangeRequest.objects.get(pk=change.pk)
    if current.status != ChangeStatus.APPLYING:
        raise ChangeError(
            f"Only a request left being applied can be reconciled; this one is {current.get_status_display().lower()}."
        )
    waited = timezone.now() - current.updated_at
    if waited < STUCK_AFTER:
        raise ChangeError(
            f"This request started being applied {int(waited.total_seconds() // 60)} minute(s) ago: an apply may"
            f" still be running. Reconcile it once {STUCK_AFTER_MINUTES} minutes have passed."
        )
    status, error, created_id = _what_aws_holds(current)  # AwsError: nothing decided, nothing changed
    with transaction.atomic():
        locked = _locked(current.pk)
        if locked.status != ChangeStatus.APPLYING or locked.updated_at != current.updated_at:
            raise ChangeError("Someone else settled this request meanwhile.")
        record(
            actor=actor,
            action="scp.change.reconciled",
            obj=locked,
            before=_audit_state(locked),
            after={"found_in_aws": status, "error": error, "created_id": created_id},
            request=request,
        )
        return _finish(locked, actor, request, status=status, error=error, created_id=created_id)


def _what_aws_holds(change: ChangeRequest) -> tuple[str, str, str]:
    """(status, error, created policy id) of an interrupted apply, from AWS's state now."""
    from governance.aws.errors import AwsNotFound
    from governance.aws.readers.org_policies import policies_for_target, policy_named, read_policy

    interrupted = "The apply was interrupted before AWS changed anything: apply it again."
    aws_filter = PolicyType(change.policy_type).aws_filter
    if change.kind == ChangeKind.CREATE:
        created = policy_named(change.name, aws_filter)
        if not created:
            return ChangeStatus.FAILED, interrupted, ""
        if document_hash(read_policy(created).document) != document_hash(change.document):
            return ChangeStatus.FAILED, f"AWS holds a policy named {change.name} with another document.", ""
        return ChangeStatus.APPLIED, "", created
    if change.kind == ChangeKind.DELETE:
        try:
            read_policy(change.aws_policy_id)
        except AwsNotFound:
            return ChangeStatus.APPLIED, "", ""
        return ChangeStatus.FAILED, interrupted, ""
    if change.kind in (ChangeKind.ATTACH, ChangeKind.DETACH):
        attached = change.aws_policy_id in policies_for_target(change.target_id, aws_filter)
        landed = attached if change.kind == ChangeKind.ATTACH else not attached
        return (ChangeStatus.APPLIED, "", "") if landed else (ChangeStatus.FAILED, interrupted, "")
    if change.kind == ChangeKind.UPDATE:
        base, held = _fresh_base(change)
        if document_hash(held) == document_hash(change.document):
            return ChangeStatus.APPLIED, "", ""
        if base:
            return ChangeStatus.FAILED, interrupted, ""
        rebase = "The policy changed in AWS since this request was written: its author must rebase it."
        return ChangeStatus.STALE, rebase, ""
    return ChangeStatus.FAILED, "Adopting writes nothing to AWS: apply it again.", ""  # ADOPT


def propose_rollback(*, actor: Any, policy: Policy, version: Any, reason: str, request: Any = None) -> ChangeRequest:
    """A change request back to an earlier version: a synced `PolicyVersion` or an approved `PolicyRevision`
    (an ordinary update, four-eyes and all)."""
    if getattr(version, "document", None) is None:
        raise ChangeError("That version has no document to go back to.")
    return propose_change(
        actor=actor,
        kind=ChangeKind.UPDATE,
        policy=policy,
        reason=reason,
        document_text=json.dumps(version.document, indent=2),
        rollback_to=version if isinstance(version, PolicyRevision) else None,
        request=request,
    )
