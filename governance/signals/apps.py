from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "governance.signals"
    label = "signals"
    verbose_name = "AWS signals"

    def ready(self) -> None:
        from governance.signals import registration

        registration.register_all()
