# One command each; every target does the set-up it needs (see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAUNCHER_CP := neo4j-local/target/classpath.txt

CONSOLE := api/console/dist/index.html
CONSOLE_MODULES := api/console/node_modules/.package-lock.json
CONSOLE_SRC := $(wildcard api/console/src/*.js api/console/src/*/*.js api/console/src/*.css api/console/src/*.html)

.PHONY: setup demo test bench lint format neo4j redis chromium console clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

$(LAUNCHER_CP): neo4j-local/pom.xml neo4j-local/src/main/java/spiral/neo4j/Neo4jLauncher.java
	cd neo4j-local && mvn -q -B package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt

setup: $(STAMP) $(LAUNCHER_CP) redis chromium $(CONSOLE)  ## .venv with Spiral, the Neo4j launcher, redis-server, Chromium, the console

# The web console: npm packages from the lock file, bundled by esbuild into api/console/dist.
$(CONSOLE_MODULES): api/console/package-lock.json
	cd api/console && npm ci --no-audit --no-fund

$(CONSOLE): $(CONSOLE_MODULES) api/console/build.mjs $(CONSOLE_SRC)
	cd api/console && npm run build

console: $(CONSOLE)  ## build the web console (served by `spiral serve` at /)

chromium:  ## Debian's Chromium and a CJK font for the browser tests (Playwright drives it; installed once)
	(command -v chromium && dpkg -s fonts-wqy-microhei) >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei)

redis:  ## redis-server for the push and webhook tests (Debian package; installed once)
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)

demo: $(STAMP)  ## the bundled sample data on the embedded store (no server needed)
	$(BIN)/spiral demo

test: setup  ## the whole suite; starts a real Neo4j 5.26 from neo4j-local/ unless NEO4J_URI is set
	$(BIN)/python -m pytest

bench: setup  ## speed figures (prints medians and ratios; not a pass/fail test)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/ingest_bench.py --files --jddc-sessions 0 --warm-server --floor
	$(BIN)/python benchmarks/push_latency.py
	$(BIN)/python benchmarks/neo4j_write_bench.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

neo4j: $(LAUNCHER_CP)  ## run Neo4j on bolt://127.0.0.1:7687 in the foreground, data in .spiral/neo4j
	java --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
	  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
	  -Dio.netty.tryReflectionSetAccessible=true -Xmx1g \
	  -cp neo4j-local/target/classes:$$(cat $(LAUNCHER_CP)) spiral.neo4j.Neo4jLauncher .spiral/neo4j 7687

clean:
	rm -rf $(VENV) neo4j-local/target .pytest_cache .ruff_cache api/console/node_modules api/console/dist
