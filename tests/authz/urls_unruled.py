from tests.authz.urls import urlpatterns_with_unruled_view as urlpatterns  # noqa: F401
