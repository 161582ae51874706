# The two commands README promises: `make demo` and `make test`. Both set up what is missing first.
SWIFT_TEST_FLAGS = -c release -Xswiftc -enable-testing

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	.build/release/seer-coordinator demo

test: setup
	SEER_PYTHON=$(CURDIR)/.venv/bin/python swift test $(SWIFT_TEST_FLAGS) --parallel --num-workers 2

bench: setup
	for b in bench/*; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf .build
