# polyglot's build. `make quickstart` runs the offline demo, `make test` the tests.
GO      ?= go
BIN     ?= bin/polyglot
PROTO   := sdk/proto/polyglot/plugin/v1/plugin.proto
MODULE  := github.com/polyglot-teachers/polyglot
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

.PHONY: build quickstart test test-short bench vet proto check-proto clean

build:
	$(GO) build -o $(BIN) .

# The offline quickstart: generate, measure, train students, score, report.
quickstart: build
	./$(BIN) run examples/quickstart

# sdk/ is its own module (what plugin authors import), so it is tested on its own.
test:
	$(GO) test -count=1 -timeout 25m ./...
	cd sdk && $(GO) test -count=1 -timeout 5m ./...

test-short:
	$(GO) test -short ./...
	cd sdk && $(GO) test -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

vet:
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...

proto:
	$(GO) install $(PROTOC_GEN_GO) && $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I sdk/proto \
		--go_out=. --go_opt=module=$(MODULE) \
		--go-grpc_out=. --go-grpc_opt=module=$(MODULE) $(PROTO)

# Fails when the committed generated code is not what the .proto gives.
check-proto:
	$(GO) install $(PROTOC_GEN_GO) && $(GO) install $(PROTOC_GEN_GO_GRPC)
	tmp=$$(mktemp -d) && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I sdk/proto \
		--go_out=$$tmp --go_opt=module=$(MODULE) \
		--go-grpc_out=$$tmp --go-grpc_opt=module=$(MODULE) $(PROTO) && \
	diff -r $$tmp/sdk/proto/pluginv1 sdk/proto/pluginv1 && echo "generated protobuf code is current"

clean:
	rm -rf bin
