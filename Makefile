# Shortcuts; the README gives the full commands.
.PHONY: test bench lint

test:
	python -m pytest -q

lint:
	ruff check .

bench:
	python bench/bench_core.py
	python bench/bench_grep.py
	python bench/bench_shell.py
	python bench/bench_repl.py
	python bench/bench_render.py
	python bench/bench_local.py
