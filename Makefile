# The two commands README promises: `make demo` and `make test` (the Python runtime agent's pytest tests, then the
# Swift tests). Both set up what is missing first.
# Tests build with -enable-testing in release (training code is many times slower in debug); setup builds with
# the same flags so that nothing is compiled twice. `swift test` would add -enable-testing to the root modules a second
# time (testable imports), a different command line that recompiled everything after setup's build: it is told not to.
TEST_FLAGS = -Xswiftc -enable-testing

.PHONY: setup demo test clean

setup:
	bash scripts/setup.sh

demo: setup
	.build/release/seer-coordinator demo

test:
	bash scripts/setup.sh $(TEST_FLAGS)
	.venv/bin/python -m pytest -q -p no:cacheprovider agents/python/tests
	SEER_PYTHON=$(CURDIR)/.venv/bin/python swift test -c release $(TEST_FLAGS) --disable-testable-imports --disable-swift-testing \
		--parallel --num-workers 2 --xunit-output .build/tests.xml
	python3 scripts/test_summary.py .build/tests.xml

clean:
	rm -rf .build
