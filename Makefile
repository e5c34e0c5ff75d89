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
	cd third_party/sdkjson && $(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal slipverify third_party 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd internal slipverify third_party; exit 1; }

# The npm packages of the interoperability tests, pinned by interop/package-lock.json.
interop-deps:
	@if [ ! -f interop/package-lock.json ]; then \
		echo "no interop/package-lock.json: nothing to install"; \
	elif command -v $(NPM) >/dev/null 2>&1; then \
		cd interop && $(NPM) ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the interoperability tests will skip"; \
	fi

# third_party/sdkjson is a module of its own (it stands in for a dependency of
# the MCP SDK: see its README), so ./... does not reach it.
test: interop-deps vet
	cd third_party/sdkjson && $(GO) test -count=1 ./...
	$(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Every fuzz target for FUZZTIME each (the seed corpora also run in make test).
FUZZTIME ?= 20s
FUZZ_TARGETS = \
	./internal/config:FuzzParse \
	./internal/policy:FuzzCompile \
	./internal/audit:FuzzParseCheckpoints ./internal/audit:FuzzEntryJSON \
	./internal/slip:FuzzIntrospect ./internal/slip:FuzzDecodeClaims ./internal/keys:FuzzDecodeHeader \
	./slipverify:FuzzCanonical \
	./internal/identity:FuzzMatchRedirect ./internal/identity:FuzzCheckRedirectURI \
	./internal/identity:FuzzParseScope ./internal/identity:FuzzSafeNext

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$pkg $$fn"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

clean:
	rm -f gatehouse
