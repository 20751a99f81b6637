"""Schemathesis hooks for finconn's run.

URLs past 64 KiB never reach finconn: hyper (the HTTP library) answers them with a bare 414 before any
application code runs, which no application can shape. Cases whose query string would be that long are
left out; everything below it is finconn's and is checked in full.
"""

from urllib.parse import urlencode

import schemathesis

MAX_QUERY = 32 * 1024


@schemathesis.hook
def filter_query(ctx, query):
    if not query:
        return True
    try:
        return len(urlencode(query, doseq=True)) < MAX_QUERY
    except Exception:
        return True
