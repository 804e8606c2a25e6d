"""The control API's team routes: teams, and bulk assignment as a job (``202`` with its id, then its progress).

``NothingToAssign`` is not a refusal (the CLI prints it and exits 0): it answers ``200`` with no job and the
CLI's sentence, so a caller tells "started" (202) from "nothing waited" (200) by the status alone."""

from __future__ import annotations

from fastapi import APIRouter, Response

from schemas.control import BulkAssignBody, BulkStarted, Changed, TeamBody
from schemas.views import BulkJobView, TeamView
from worker.api import NothingToAssign
from worker.http.control_base import PREFIX, Actor, Desk, Now, account_router

_router = account_router("teams")


@_router.get("/teams", summary="Teams, their members and who of them is Online")
def teams(account: str, desk: Desk) -> list[TeamView]:
    return desk.teams(account)


@_router.put("/teams/{team}", summary="Set a team's members (replaces the previous ones)")
def set_team(account: str, team: str, body: TeamBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    """Owner, admin or manager."""
    return Changed(changed=desk.set_team(account, team, body.members, actor, now=now))


@_router.post(
    "/bulk-assignments",
    status_code=202,
    summary="Spread tickets over a team's Online members, as one job",
    responses={200: {"model": BulkStarted, "description": "Nothing waited: nothing was enqueued (`job_id` null)."}},
)
def bulk_assign(account: str, body: BulkAssignBody, actor: Actor, desk: Desk, response: Response) -> BulkStarted:
    """Agent or higher. Give `tickets` or `unassigned: true` (exactly one). `202`: the job is queued; follow
    `progress`. The request is checked before anything is enqueued (unknown team 404, empty team 409)."""
    try:
        job = desk.bulk_assign(account, body.team, actor, body.tickets, unassigned=body.unassigned)
    except NothingToAssign as nothing:
        response.status_code = 200
        return BulkStarted(job_id=None, progress=None, message=str(nothing))
    progress = PREFIX.replace("{account}", account) + f"/bulk-assignments/{job.id}"
    return BulkStarted(job_id=job.id, progress=progress)


@_router.get("/bulk-assignments/{job}", summary="A bulk job's progress, and once finished what it did")
def bulk_progress(account: str, job: str, desk: Desk) -> BulkJobView:
    """`status` is RQ's (`queued`, `started`, `finished`, `failed` …); `done` of `total` tickets; `result` once
    finished. Another account's job is 404, as an unknown one. Kept a day after it ends."""
    return desk.bulk_job(account, job)


def router() -> APIRouter:
    return _router
