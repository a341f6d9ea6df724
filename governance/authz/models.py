from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who logged in through an identity provider; their rights come from AWS."""

    class Meta:
        db_table = "authz_user"
