# The two commands a newcomer needs:
#   go run ./cmd/gatehouse demo     serve the demo tenant
#   make test                       run every test
#
# Peers that cannot be fetched (Debian's chromium, a PostgreSQL server) make
# their tests skip with a message; under CI=true such a skip is a failure.

GO ?= go
NPM ?= npm

.PHONY: test build vet interop-deps bench fuzz clean

build:
	$(GO) build -o gatehouse ./cmd/gatehouse

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l cmd internal slipverify 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd internal slipverify; exit 1; }

# The npm packages of the interoperability tests, pinned by interop/package-lock.json.
interop-deps:
	@if [ ! -f interop/package-lock.json ]; then \
		echo "no interop/package-lock.json: nothing to install"; \
	elif command -v $(NPM) >/dev/null 2>&1; then \
		cd interop && $(NPM) ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the interoperability tests will skip"; \
	fi

test: interop-deps vet
	$(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 30s ./internal/policy/

clean:
	rm -f gatehouse
