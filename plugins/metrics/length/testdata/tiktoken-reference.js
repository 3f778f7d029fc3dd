// Counts tokens with tiktoken's own implementation (the npm package
// "tiktoken", its Rust core compiled to WASM) for the Go reference test:
// reads a JSON array of strings on stdin, writes a JSON array of
// {"o200k_base": n, "cl100k_base": n} (encode_ordinary) on stdout.
// Run by TestTiktokenReference (see tiktoken_ref_test.go).
const { get_encoding } = require("tiktoken");
const texts = JSON.parse(require("fs").readFileSync(0, "utf8"));
const encs = ["o200k_base", "cl100k_base"].map((n) => [n, get_encoding(n)]);
const out = texts.map((t) => Object.fromEntries(encs.map(([n, e]) => [n, e.encode_ordinary(t).length])));
process.stdout.write(JSON.stringify(out, null, 0) + "\n");
