"""At each IdP login: remember the login's MFA facts for step-up, and (re)link the user to AWS."""

from __future__ import annotations

from allauth.account.signals import user_logged_in
from django.dispatch import receiver

from governance.authz import mfa


@receiver(user_logged_in, dispatch_uid="authz.on_login")
def on_login(sender, request, user, sociallogin=None, **kwargs) -> None:
    from governance.authz.capabilities import forget
    from governance.authz.linking import facts_from_sociallogin
    from governance.authz.services import link_user

    facts = None
    if sociallogin is not None:
        facts = facts_from_sociallogin(sociallogin)
        account = sociallogin.account
        mfa.remember_login(
            request,
            provider=account.provider,
            subject=str(account.uid),
            claims=mfa.claims_from_sociallogin(sociallogin),
        )
    link_user(user=user, facts=facts, actor=user)
    forget(user)
