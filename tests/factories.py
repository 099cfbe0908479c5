"""factory_boy factories shared by every test module."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clinic.models import Location, StaffProfile
from clinic.roles import ROLES

PASSWORD = "correct-horse-battery-staple"


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Clinic site {n}")
    code = factory.Sequence(lambda n: f"site-{n}")
    phone = "+442079460000"  # 020 7946 0000, as stored (E.164)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.example")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(self, create, extracted, **kwargs):
        if create:
            self.save()


def staff(role_key: str, *locations: Location, **kwargs):
    """A staff user holding one role at the given locations."""
    user = UserFactory(**kwargs)
    user.groups.set([Group.objects.get(name=ROLES[role_key].group)])
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    profile.locations.set(locations)
    return user
