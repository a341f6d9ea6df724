"""`Authorization: Bearer gpt_…`: the token's user, if the token is known, unexpired and unrevoked."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from governance.api.models import ApiToken
from governance.api.services import TOKEN_PREFIX, digest

# last_used_at is written at most this often per token, so a busy script costs no write per request.
_TOUCH_EVERY = timedelta(minutes=1)


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme != self.keyword or not value.startswith(TOKEN_PREFIX):
            return None
        token = ApiToken.objects.usable().select_related("user").filter(digest=digest(value.strip())).first()
        if token is None:
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
