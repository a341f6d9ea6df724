from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "governance.notify"
    label = "notify"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from governance.notify import channels

        channels.register_channel("email", "governance.notify.channels.EmailChannel")
