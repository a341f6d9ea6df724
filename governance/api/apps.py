from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "governance.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from governance.api import schema  # noqa: F401 - registers the OpenAPI description of the tokens
