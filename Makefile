# The two commands of the README, and a few more for developers.
.PHONY: run test lint stop messages

run:  ## set up, start the embedded PostGIS, load the demo, serve on http://127.0.0.1:8000
	scripts/run.sh

test:  ## set up and run the whole test suite against a throwaway PostGIS database
	scripts/test.sh

lint:
	.venv/bin/ruff check geo311 tests migrations bench

stop:  ## stop the embedded database
	.venv/bin/geo311 db stop

messages:  ## find new resident-visible texts and merge them into geo311/locale/*/LC_MESSAGES/messages.po
	.venv/bin/geo311 i18n extract
	.venv/bin/geo311 i18n check || true
