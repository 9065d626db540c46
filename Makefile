# One command runs every test: `make test`. It installs what the tests need first.
GO        ?= go
FUZZTIME  ?= 15s
TEST_TIMEOUT ?= 18m

.PHONY: test deps vet unit fuzz bench build registry demo clean

test: deps vet unit fuzz

deps:
	./scripts/install-test-deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# Bounded fuzzing of the input boundaries; each target runs for FUZZTIME. Every failing
# input the fuzzer finds is saved under testdata/fuzz/; committed with its fix, it is
# replayed by `make unit` too (go test runs the seed corpus of every Fuzz target).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseAvro$$' -fuzztime $(FUZZTIME) ./schemas/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./routing/wal/
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./routing/avrojson/
	$(GO) test -run '^$$' -fuzz '^FuzzEncodeJSON$$' -fuzztime $(FUZZTIME) ./routing/avrojson/
	$(GO) test -run '^$$' -fuzz '^FuzzSplitEvents$$' -fuzztime $(FUZZTIME) ./routing/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEnvelopeRecord$$' -fuzztime $(FUZZTIME) ./routing/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./schemas/... ./routing/... ./adapters/...

build:
	mkdir -p bin && $(GO) build -o bin/ ./cmd/...

# Run the registry with an embedded etcd kept in ./data/registry.
registry: build
	./bin/registry --listen 127.0.0.1:8081 --data-dir data/registry

# The whole system on one machine: registry (embedded etcd), local stores, router,
# example contracts, ~20 s of generated events, where they landed and `router verify`.
demo:
	$(GO) run ./integration/cmd/demo --dir data/demo $(DEMO_FLAGS)

clean:
	rm -rf bin data
