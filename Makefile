# make demo : set everything up, then run the main job on the embedded defaults
# make test : set everything up, then run the test suite (.ci/run calls this); tests marked
#             `slow` are left out: `make test-all` runs them too
# make bench: the benchmark suite (results/bench.md, bench.png, roofline.png; about 20-22 min)
.PHONY: setup demo test test-all bench bench-quick clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/tensorop generate

test: setup
	scripts/run_tests.sh "not slow" $(PYTEST_ARGS)

test-all: setup
	scripts/run_tests.sh "" $(PYTEST_ARGS)

bench: setup
	.venv/bin/tensorop bench-suite $(BENCH_ARGS)

bench-quick: setup
	.venv/bin/tensorop bench-suite --quick

clean:
	rm -rf .cache .venv
