"""Keyset pagination (an opaque cursor over a unique ordering): no COUNT(*), stable under inserts."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
