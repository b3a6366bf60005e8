"""Open311 GeoReport v2, the edge city apps and other 311 systems speak.

params.py reads the query parameters and POST forms clients send; wire.py maps geo311's reports
and categories to Open311 fields and renders JSON and XML; queries.py holds the SQL (services,
requests, tokens, status updates); router.py serves /open311/v2/ and answers errors in Open311's
format. `router.install(app)` wires it in.
"""
