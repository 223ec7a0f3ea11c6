"""Blueprints: thin views that parse a form, call a service and render a page or fragment.

One blueprint per area: auth, dashboard, admin (users, settings), lists, imports (mapping,
progress, report), optouts, campaigns, counter (the composer's live counter), webhooks,
sandbox (the sandbox inbox). `common` holds the few helpers several of them share; a view
module never imports another view module.
"""
