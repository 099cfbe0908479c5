from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER, ROLES, role_of, sync_roles
from tests.factories import UserFactory, staff


@pytest.mark.django_db
def test_every_permission_in_the_map_exists():
    sync_roles(strict=True)


@pytest.mark.django_db
def test_each_group_holds_exactly_the_permissions_of_its_role():
    for role in ROLES.values():
        group = Group.objects.get(name=role.group)
        held = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert held == set(role.permissions), role.key


@pytest.mark.django_db
def test_the_strongest_role_wins(location):
    user = staff(FRONT_DESK, location)
    user.groups.add(Group.objects.get(name=ROLES[MANAGER].group))
    assert role_of(user).key == MANAGER


@pytest.mark.django_db
def test_a_user_without_a_group_has_no_role():
    assert role_of(UserFactory()) is None


@pytest.mark.django_db
def test_front_desk_cannot_see_the_audit_trail_but_managers_can(location):
    assert not staff(FRONT_DESK, location).has_perm("clinic.view_auditevent")
    assert not staff(PRACTITIONER, location).has_perm("clinic.view_auditevent")
    assert staff(MANAGER, location).has_perm("clinic.view_auditevent")
