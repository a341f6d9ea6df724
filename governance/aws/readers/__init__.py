"""Paginated, economical AWS readers returning plain dataclasses (governance.aws.readers.types).

Their public functions raise the gateway's errors (`governance.aws.errors`), never botocore's.
"""
