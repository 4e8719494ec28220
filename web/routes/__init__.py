"""The studio's pages, one router per area, gathered in one place."""

from fastapi import APIRouter

from web.routes import assets, exports, gallery, projects, sign_in, task_detail, task_form, tasks

pages_router = APIRouter(include_in_schema=False)
for _module in (sign_in, projects, task_form, tasks, task_detail, gallery, assets, exports):
    pages_router.include_router(_module.router)

__all__ = ["pages_router"]
