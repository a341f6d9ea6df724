"""For this app's migrations (a leading underscore: Django's loader takes it for no migration)."""

from django.db import migrations


def on_postgresql(install: list[str], uninstall: list[str]) -> migrations.RunPython:
    """Run SQL statements (triggers and their functions) on PostgreSQL only, and the others back on
    reverse. SQLite, the embedded demo database, has the services' checks only."""

    def run(statements: list[str]):
        def apply(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                for statement in statements:
                    schema_editor.execute(statement, params=None)

        return apply

    return migrations.RunPython(run(install), run(uninstall))
