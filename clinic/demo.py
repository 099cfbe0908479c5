"""Demo locations and users. The demo users exist only because this command makes them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clinic.models import Location, StaffProfile
from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER, ROLES

DEMO_PASSWORD = "exosome-demo-2026"

LOCATIONS = [
    {
        "code": "marylebone",
        "name": "Marylebone Clinic",
        "address": "14 Wimpole Street, London W1G 9SX",
        "phone": "+442079460001",  # 020 7946 0001, Ofcom drama range
        "email": "marylebone@clinic.example",
    },
    {
        "code": "manchester",
        "name": "Manchester Spinningfields",
        "address": "3 Hardman Square, Manchester M3 3EB",
        "phone": "+441614960002",  # 0161 496 0002
        "email": "manchester@clinic.example",
    },
]

# username, first, last, role, location codes, job title
USERS = [
    ("frontdesk", "Fiona", "Desk", FRONT_DESK, ["marylebone"], "Receptionist"),
    ("practitioner", "Dr Priya", "Shah", PRACTITIONER, ["marylebone"], "Aesthetic physician"),
    ("nurse", "Nadia", "Okafor", PRACTITIONER, ["marylebone"], "Aesthetic nurse prescriber"),
    ("manager", "Marcus", "Lee", MANAGER, ["marylebone", "manchester"], "Clinic manager"),
    ("frontdesk_mcr", "Tom", "Hughes", FRONT_DESK, ["manchester"], "Receptionist"),
    ("practitioner_mcr", "Dr Elena", "Rossi", PRACTITIONER, ["manchester"], "Dermatologist"),
]


def seed(*, stdout) -> tuple[dict[str, Location], dict]:
    locations = {}
    for data in LOCATIONS:
        loc, _ = Location.objects.get_or_create(code=data["code"], defaults=data)
        locations[loc.code] = loc
    User = get_user_model()
    users = {}
    for username, first, last, role_key, codes, title in USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@clinic.example"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=ROLES[role_key].group)])
            profile = StaffProfile.objects.create(user=user, job_title=title)
            profile.locations.set([locations[c] for c in codes])
        users[username] = user
    stdout.write(f"  {len(locations)} locations, {len(users)} staff users")
    return locations, users
