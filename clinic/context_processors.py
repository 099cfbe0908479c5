from __future__ import annotations

from typing import Any

from django.conf import settings

from clinic.navigation import nav_for, nav_tree
from clinic.roles import role_of


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    context: dict[str, Any] = {"clinic_name": settings.CLINIC_NAME}
    if user is not None and user.is_authenticated:
        items = nav_for(user, request.path)
        context.update(
            {
                "nav": nav_tree(items),
                "current_role": role_of(user),
            }
        )
    return context
