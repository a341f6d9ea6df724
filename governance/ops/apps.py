from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "governance.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django_q.signals import post_execute, pre_execute

        from governance.aws import calls
        from governance.notify.channels import register_channel
        from governance.ops import metrics, task_logging

        register_channel("slack", "governance.ops.notify_channels.SlackChannel")
        register_channel("teams", "governance.ops.notify_channels.TeamsChannel")

        calls.observe(metrics.observe_aws_call)
        pre_execute.connect(task_logging.bind_task, dispatch_uid="ops.bind_task")
        post_execute.connect(task_logging.unbind_task, dispatch_uid="ops.unbind_task")
