from django import template

register = template.Library()


@register.filter
def scp_summary(level, kind: str) -> str:
    """`{{ level|scp_summary:"scp" }}`: what one level of the chain lets through."""
    return level.summary(kind)
