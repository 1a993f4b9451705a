"""The investigator workbench: a web application over the store (issue 18).

A face (docs/architecture.md): it may import every layer below it and nothing
imports it except the CLI. Server-rendered pages (Starlette + Jinja2 with
autoescaping), no client-side script, accounts with roles, server-side
sessions and a hash-chained audit trail of its own. See docs/workbench.md.
"""
