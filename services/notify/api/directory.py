"""The directory (通讯录): how each unit is reached, and who is on duty for an area."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError

from services.notify import store
from services.notify.api import schemas
from services.notify.api.deps import AdminKey, Pool
from services.notify.api.schemas import Deleted, Entry
from shared.answers import problem, problems
from shared.db import Connection
from shared.http import Problem, parse_upload

router = APIRouter(tags=["通讯录 Directory"])


async def _save(conn: Connection, entry: Entry) -> None:
    await store.put_address(
        conn,
        entry.id,
        entry.name,
        entry.sms,
        entry.email,
        entry.wechat_openid,
        entry.area_code,
        entry.duty,
    )


@router.put(
    "/directory",
    response_model=schemas.Loaded,
    summary="载入通讯录 Load the directory (JSON or YAML list: id, name, sms, email, wechat_openid, area_code, duty)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": Entry.model_json_schema()}
                },
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
    responses=problems(400),
)
async def load_directory(request: Request, pool: Pool, _: AdminKey) -> schemas.Loaded:
    raw = await request.body()
    data = parse_upload(raw, request.headers.get("content-type", ""), "通讯录")
    if not isinstance(data, list):
        raise Problem(422, "通讯录须为列表 The directory is a list of entries")
    try:
        entries = [Entry.model_validate(item) for item in data]
    except ValidationError as error:
        raise Problem(422, f"通讯录有误 Invalid entry: {error.errors()[0]['msg']}") from None
    async with pool.acquire() as conn, conn.transaction():
        for entry in entries:
            await _save(conn, entry)
    return schemas.Loaded(loaded=len(entries))


@router.put(
    "/directory/{recipient_id}", response_model=Entry, summary="新增或修改一个单位 Put one entry"
)
async def put_entry(recipient_id: str, entry: Entry, pool: Pool, _: AdminKey) -> Entry:
    if entry.id != recipient_id:
        raise Problem(422, "路径与内容中的 id 不一致 Path and body disagree", field="id")
    async with pool.acquire() as conn:
        await _save(conn, entry)
    return entry


@router.get("/directory", response_model=schemas.Directory, summary="通讯录 The directory")
async def list_directory(pool: Pool, _: AdminKey) -> schemas.Directory:
    async with pool.acquire() as conn:
        return schemas.directory(await store.directory(conn))


@router.delete(
    "/directory/{recipient_id}",
    response_model=Deleted,
    summary="删除一个单位 Remove an entry",
    responses=problem(404, "通讯录中没有 Not in the directory"),
)
async def delete_entry(recipient_id: str, pool: Pool, _: AdminKey) -> Deleted:
    async with pool.acquire() as conn:
        if not await store.delete_address(conn, recipient_id):
            raise Problem(404, f"通讯录中没有 {recipient_id} Not in the directory")
    return Deleted(deleted=recipient_id)
