'use strict';
// Unit tests of the pieces under the gRPC plumbing: word splitting, the
// ratio, the accumulator, config decoding and validation. The Go test
// (node_test.go) drives the whole plugin through the real host.

const test = require('node:test');
const assert = require('node:assert/strict');
const { encode } = require('@msgpack/msgpack');
const { words, ttr, Accumulator } = require('../lib/ttr');
const { decodeConfig, ConfigError } = require('../lib/cty');
const { validate } = require('../index');
const { timestamp } = require('../lib/hclog');
const { shQuote } = require('../scripts/make-wrapper');

test('words', () => {
  const cases = [
    { in: 'The cat saw the cat.', want: ['the', 'cat', 'saw', 'the', 'cat'] },
    { in: "Don't stop: well-known rock'n'roll", want: ["don't", 'stop', 'well-known', "rock'n'roll"] },
    { in: 'Un été à Paris', want: ['un', 'été', 'à', 'paris'] },
    // Decomposed é (e + U+0301) is the same word as precomposed é.
    { in: 'e\u0301te\u0301 été', want: ['été', 'été'] },
    { in: 'नमस्ते दुनिया', want: ['नमस्ते', 'दुनिया'] },
    { in: '  ...  ', want: [] },
    { in: 'ÄPFEL äpfel 42', want: ['äpfel', 'äpfel', '42'] },
  ];
  for (const c of cases) assert.deepEqual(words(c.in), c.want, c.in);
});

test('ttr', () => {
  assert.deepEqual(ttr('The cat saw the cat'), { words: 5, types: 3, ratio: 3 / 5 });
  assert.deepEqual(ttr('hello Hello HELLO'), { words: 3, types: 1, ratio: 1 / 3 });
  assert.deepEqual(ttr(''), { words: 0, types: 0, ratio: null });
});

test('accumulator skips short responses and averages the rest', () => {
  const acc = new Accumulator(2);
  const vals = acc.add([
    { id: 'a', response: 'The cat saw the cat' },
    { id: 'b', response: 'one' },
    { id: 'c', response: 'hello Hello HELLO' },
  ]);
  assert.deepEqual(vals[0], { id: 'a', values: { ttr: 0.6 }, note: '' });
  assert.deepEqual(vals[1].values, {});
  assert.match(vals[1].note, /1 word\(s\), fewer than min_words = 2/);
  const agg = acc.aggregate();
  const mean = (0.6 + 1 / 3) / 2;
  assert.ok(Math.abs(agg.values.value - mean) < 1e-15);
  assert.equal(agg.values.n, 2);
  // Sample sd of {0.6, 1/3} over sqrt(2).
  const sd = Math.abs(0.6 - 1 / 3) / Math.SQRT2;
  assert.ok(Math.abs(agg.values.stderr - sd / Math.SQRT2) < 1e-15);
  assert.deepEqual(agg.details, { skipped: 1, min_words: 2 });
  assert.deepEqual(new Accumulator(1).aggregate().values, { value: 0, n: 0, stderr: 0 });
});

// dyn builds what go-cty's msgpack.Marshal(v, cty.DynamicPseudoType) sends.
const dyn = (type, value) => encode([Buffer.from(JSON.stringify(type)), value]);

test('decodeConfig', () => {
  assert.deepEqual(decodeConfig(Buffer.alloc(0)), {});
  assert.deepEqual(decodeConfig(dyn(['object', {}], {})), {});
  assert.deepEqual(decodeConfig(dyn(['object', { min_words: 'number' }], { min_words: 3 })), { min_words: 3 });
  assert.deepEqual(decodeConfig(dyn(['object', { min_words: 'number' }], { min_words: null })), { min_words: null });
  assert.deepEqual(decodeConfig(dyn(['object', { min_words: 'number' }], { min_words: '2.5' })), { min_words: 2.5 });
  assert.deepEqual(
    decodeConfig(dyn(['object', { a: ['list', 'string'], b: 'dynamic', c: ['map', 'bool'] }],
      { a: ['x', 'y'], b: [Buffer.from('"string"'), 'z'], c: { k: true } })),
    { a: ['x', 'y'], b: 'z', c: { k: true } });
  assert.throws(() => decodeConfig(Buffer.from([0xc1])), ConfigError);
  assert.throws(() => decodeConfig(encode(5)), /dynamic value must be a \[type, value\] pair/);
});

test('validate', () => {
  const cases = [
    { cfg: {}, min: 1, errs: 0 },
    { cfg: { min_words: null }, min: 1, errs: 0 },
    { cfg: { min_words: 3 }, min: 3, errs: 0 },
    { cfg: { min_words: 0 }, errs: 1, summary: /at least 1/ },
    { cfg: { min_words: -2 }, errs: 1, summary: /at least 1/ },
    { cfg: { min_words: 1.5 }, errs: 1, summary: /whole number/ },
  ];
  for (const c of cases) {
    const [min, diags] = validate(c.cfg);
    assert.equal(diags.length, c.errs, JSON.stringify(c.cfg));
    if (c.errs === 0) assert.equal(min, c.min);
    else {
      assert.match(diags[0].summary, c.summary);
      assert.deepEqual(diags[0].attribute, { steps: [{ attribute_name: 'min_words' }] });
    }
  }
});

test('hclog timestamp has six fractional digits', () => {
  assert.equal(timestamp(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 67))), '2024-01-02T03:04:05.067000Z');
});

test('shQuote', () => {
  assert.equal(shQuote('/a b/c'), "'/a b/c'");
  assert.equal(shQuote("/it's"), "'/it'\\''s'");
});
