"""The dataset catalogue: custodians publish, edit and retire; everybody searches.

Counts arrive as true counts from the custodian and are released through the
node's disclosure rule (:func:`medhaven.analytics.release_count`: suppressed
below the minimum cell count, then rounded) *before* they are stored, so the
hub never keeps a small count at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from medhaven.analytics import DisclosurePolicy, release_count
from medhaven.errors import CheckFailed, Conflict, Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import Dataset, Role
from medhaven.hub.schemas import DatasetCreate, DatasetUpdate
from medhaven.hub.services.common import Principal, get_or_404, now_utc

ROUNDING_BASE = 10
RISK_GATE = "risk_gate"  # the key of the release gate's verdict in quality_summary


def catalogue_policy(min_cell_count: int) -> DisclosurePolicy:
    """Suppress below ``min_cell_count``, then round to the nearest 10."""
    return DisclosurePolicy(min_cell_count=min_cell_count, rounding_base=ROUNDING_BASE)


def _released(count: int, policy: DisclosurePolicy, name: str) -> dict[str, Any]:
    out = release_count(count, policy, name=name)
    return {"value": out.value, "marker": out.marker}


def release_characterization(
    summary: dict[str, dict[str, int]], policy: DisclosurePolicy
) -> dict[str, dict[str, Any]]:
    """Each ``{section: {label: count}}`` count released (suppressed/rounded) by ``policy``."""
    return {
        section: {
            label: _released(n, policy, f"characterization.{section}") for label, n in cells.items()
        }
        for section, cells in summary.items()
    }


def _number(verdict: dict[str, Any], key: str) -> float:
    value = verdict.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"quality_summary.{RISK_GATE}.{key}: not a number")
    return float(value)


def risk_verdict(quality_summary: dict[str, Any]) -> dict[str, Any] | None:
    """The de-identification release gate's verdict in a publication, checked; None if absent.

    The verdict is :meth:`medhaven.deid.risk_gate.GateVerdict.as_dict` under
    ``quality_summary.risk_gate``. A malformed verdict, or one that says ``released: true``
    while its own k is below ``k_min`` or its average risk above ``max_avg_risk``, is
    :class:`InvalidInput`. A refused verdict is returned as it is (see :func:`publish`).
    """
    verdict = quality_summary.get(RISK_GATE)
    if verdict is None:
        return None
    if not isinstance(verdict, dict):
        raise InvalidInput(f"quality_summary.{RISK_GATE}: not an object")
    released = verdict.get("released")
    if not isinstance(released, bool):
        raise InvalidInput(f"quality_summary.{RISK_GATE}.released: not true or false")
    k, k_min = _number(verdict, "k"), _number(verdict, "k_min")
    risk, max_risk = _number(verdict, "average_risk"), _number(verdict, "max_avg_risk")
    reasons = verdict.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise InvalidInput(f"quality_summary.{RISK_GATE}.reasons: not a list of text")
    if released and (k < k_min or risk > max_risk):
        raise InvalidInput(
            f"quality_summary.{RISK_GATE}: says released, but k is below k_min "
            "or the average risk above its maximum"
        )
    return verdict


def check_risk_verdict(quality_summary: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`risk_verdict`, refusing (:class:`CheckFailed`) a verdict that says not released."""
    verdict = risk_verdict(quality_summary)
    if verdict is not None and not verdict["released"]:
        reasons = verdict.get("reasons") or ["no reason given"]
        raise CheckFailed(
            f"quality_summary.{RISK_GATE}: the release gate refused this dataset "
            f"({str(reasons[0])[:200]}); apply its suggested generalisation and run it again"
        )
    return verdict


def released_counts(data: DatasetCreate, *, min_cell_count: int) -> dict[str, Any]:
    """The person count and characterization as the catalogue will store and show them."""
    policy = catalogue_policy(min_cell_count)
    count = release_count(data.person_count, policy, name="person_count")
    return {
        "person_count": count.value,
        "person_count_marker": count.marker,
        "characterization": release_characterization(data.characterization, policy),
    }


def check_publisher(principal: Principal, org_id: int) -> None:
    """Only a custodian of the organisation publishes for it (:class:`Forbidden`)."""
    if not principal.roles.has(Role.CUSTODIAN, org_id):
        raise Forbidden("you are not a custodian of that organisation")


def publish(
    session: Session, principal: Principal, data: DatasetCreate, *, min_cell_count: int
) -> Dataset:
    """Publish a dataset for a hospital in which the caller is a custodian.

    A publication whose release-gate verdict (``quality_summary.risk_gate``) says it may
    not be released is refused (:class:`CheckFailed`); one without a verdict is published.
    """
    check_publisher(principal, data.org_id)
    if data.period_start and data.period_end and data.period_end < data.period_start:
        raise InvalidInput("period_end: before period_start")
    check_risk_verdict(data.quality_summary)
    released = released_counts(data, min_cell_count=min_cell_count)
    ds = Dataset(
        org_id=data.org_id,
        name=data.name,
        description=data.description,
        cdm_version=data.cdm_version,
        domains="|" + "|".join(sorted(set(data.domains))) + "|",
        period_start=data.period_start,
        period_end=data.period_end,
        person_count=released["person_count"],
        person_count_marker=released["person_count_marker"],
        characterization=released["characterization"],
        quality_summary=data.quality_summary,
        terms_of_use=data.terms_of_use,
        teaching=data.teaching,
        required_approvals=data.required_approvals,
        published_by=principal.user_id,
        created_at=now_utc(),
    )
    session.add(ds)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="dataset.publish",
        object_type="dataset",
        object_id=ds.id,
        details={"org_id": ds.org_id},
    )
    return ds


def _locked(session: Session, dataset_id: int) -> Dataset:
    stmt = (
        select(Dataset)
        .where(Dataset.id == dataset_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    ds = session.execute(stmt).scalar_one_or_none()
    if ds is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return ds


def _editable(session: Session, principal: Principal, dataset_id: int) -> Dataset:
    ds = _locked(session, dataset_id)
    if not principal.roles.has(Role.CUSTODIAN, ds.org_id):
        raise Forbidden("you are not a custodian of the organisation that published it")
    if ds.retired_at is not None:
        raise Conflict(f"dataset {dataset_id} is retired")
    return ds


def update(session: Session, principal: Principal, dataset_id: int, data: DatasetUpdate) -> Dataset:
    """Change a dataset's description, terms of use or teaching flag (its custodians)."""
    changes = data.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise InvalidInput(f"{nulls[0]}: may not be null")
    if not changes:
        raise InvalidInput("give at least one of description, terms_of_use, teaching")
    ds = _editable(session, principal, dataset_id)
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.updated_at = now_utc()
    audit.record(
        session,
        actor=principal.actor,
        action="dataset.update",
        object_type="dataset",
        object_id=ds.id,
        details={"fields": sorted(changes)},
    )
    return ds


def retire(session: Session, principal: Principal, dataset_id: int, reason: str) -> Dataset:
    """Retire a dataset: no new requests, no new approvals; existing grants keep their expiry."""
    ds = _editable(session, principal, dataset_id)
    ds.retired_at = now_utc()
    audit.record(
        session,
        actor=principal.actor,
        action="dataset.retire",
        object_type="dataset",
        object_id=ds.id,
        details={"reason": reason},
    )
    return ds


def search_query(
    *,
    q: str | None = None,
    include_retired: bool = False,
    org_id: int | None = None,
    domain: str | None = None,
    teaching: bool | None = None,
    cdm_version: str | None = None,
) -> Select[Any]:
    """A select over datasets matching free text and filters."""
    stmt = select(Dataset).order_by(Dataset.id)
    if q:
        pattern = (
            "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"
        )
        stmt = stmt.where(
            or_(
                Dataset.name.ilike(pattern, escape="\\"),
                Dataset.description.ilike(pattern, escape="\\"),
            )
        )
    if not include_retired:
        stmt = stmt.where(Dataset.retired_at.is_(None))
    if org_id is not None:
        stmt = stmt.where(Dataset.org_id == org_id)
    if domain:
        stmt = stmt.where(Dataset.domains.contains(f"|{domain}|", autoescape=True))
    if teaching is not None:
        stmt = stmt.where(Dataset.teaching.is_(teaching))
    if cdm_version:
        stmt = stmt.where(Dataset.cdm_version == cdm_version)
    return stmt


def view(session: Session, principal: Principal, dataset_id: int) -> Dataset:
    """One dataset (a data access: audited)."""
    ds = get_or_404(session, Dataset, dataset_id, "dataset")
    audit.record(
        session,
        actor=principal.actor,
        action="dataset.view",
        object_type="dataset",
        object_id=ds.id,
    )
    return ds


__all__ = [
    "RISK_GATE",
    "ROUNDING_BASE",
    "catalogue_policy",
    "check_publisher",
    "check_risk_verdict",
    "publish",
    "release_characterization",
    "released_counts",
    "retire",
    "risk_verdict",
    "search_query",
    "update",
    "view",
]
