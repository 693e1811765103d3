# make demo : set everything up, then run the main job on the embedded defaults
# make test : set everything up, then run the test suite (.ci/run calls this)
.PHONY: setup demo test clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/tensorop generate

test: setup
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf .cache .venv
