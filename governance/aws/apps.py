from django.apps import AppConfig


class AwsConfig(AppConfig):
    name = "governance.aws"
    label = "aws"
    verbose_name = "AWS"
