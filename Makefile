# Habit keeper: `make compile|check|test` forwards to the just recipes of the same name.
JUST := .venv/bin/just

.PHONY: compile check test
compile check test:
	$(JUST) $@
