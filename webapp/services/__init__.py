"""Use cases: plain arguments and a database session in, results or typed errors out.

They never touch the web request, the user's session or flashed messages; views and the command
line call the same functions with the same rules. Below them: `webapp.sms` and `webapp.csvimport`
(pure), `webapp.gateway` (the client and the gateway's rules), `webapp.models` and
`webapp.states`.

- accounts, settings: users, roles, workspace settings
- lists, optouts, imports/: recipient lists, the opt-out list, importing files
- audience: who a campaign reaches
- campaigns/, preview, dispatch, progress, delivery: a campaign from draft to its reports
- counter, overview, pages: what the composer, the dashboard and paged tables show
"""
