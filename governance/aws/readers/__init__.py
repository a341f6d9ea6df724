"""Paginated, economical AWS readers returning plain dataclasses (governance.aws.readers.types)."""
