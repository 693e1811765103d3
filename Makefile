# make demo : set everything up, then run the main job on the embedded defaults
# make test : set everything up, then run the test suite (.ci/run calls this); tests marked
#             `slow` are left out: `make test-all` runs them too
# make test-boards: the end-to-end tests on Linux boards in QEMU system mode (rv64-board, arm64-board;
#             marked `board`, also `slow`, so `make test` leaves them out); builds the boards on first use
#             into ~/.cache/tensorop/boards, reuses them after (.ci/run calls it after `make test`); on a
#             2-core box about 4.5 min with both images cached, about 25 min from a cold cache
# make bench: the benchmark suite (results/bench.md, bench.png, roofline.png; about 20-22 min)
.PHONY: setup setup-boards demo test test-all test-boards bench bench-quick clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/tensorop generate

test: setup
	scripts/run_tests.sh "not slow" $(PYTEST_ARGS)

setup-boards: setup
	@bash scripts/setup_boards.sh

test-boards: setup-boards
	.venv/bin/python -m pytest -q -m board -p no:cacheprovider $(PYTEST_ARGS)

test-all: setup-boards
	scripts/run_tests.sh "" $(PYTEST_ARGS)

bench: setup
	.venv/bin/tensorop bench-suite $(BENCH_ARGS)

bench-quick: setup
	.venv/bin/tensorop bench-suite --quick

clean:
	rm -rf .cache .venv
