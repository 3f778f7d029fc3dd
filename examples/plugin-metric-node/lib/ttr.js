'use strict';
// The type–token ratio computation, kept apart from the gRPC plumbing so it
// can be tested on its own (test/ttr.test.js).

// A word is a run of letters, combining marks and digits; an apostrophe or a
// hyphen between two such runs keeps them one word ("don't", "well-known").
// Marks are part of the class so that decomposed accents and Indic vowel
// signs do not split words. Scripts written without spaces (Chinese,
// Japanese, Thai) come out as one word per run: this metric is an example,
// not a segmenter.
const WORD = /[\p{L}\p{M}\p{N}]+(?:['\u2019\-][\p{L}\p{M}\p{N}]+)*/gu;

/** words returns the lower-cased NFC words of text, in order. */
function words(text) {
  const out = [];
  // NFC first so that "é" and "e"+U+0301 are the same type.
  for (const m of String(text).normalize('NFC').matchAll(WORD)) {
    out.push(m[0].toLowerCase());
  }
  return out;
}

/**
 * ttr returns {words, types, ratio} for one text; ratio is distinct
 * lower-cased words over words, and null for a text with no word.
 */
function ttr(text) {
  const ws = words(text);
  const types = new Set(ws).size;
  return { words: ws.length, types, ratio: ws.length === 0 ? null : types / ws.length };
}

/**
 * Accumulator scores a cell batch by batch. Examples with fewer than
 * minWords words get no value (a note says why) and stay out of the mean:
 * the ratio of a one-word answer is always 1 and would flatter terse teachers.
 */
class Accumulator {
  constructor(minWords) {
    this.minWords = minWords;
    // Welford's running mean and sum of squared deviations: stable, O(1).
    this.n = 0;
    this.mean = 0;
    this.m2 = 0;
    this.skipped = 0;
  }

  /** add scores examples ({id, response}) and returns their ExampleValues. */
  add(examples) {
    return examples.map((ex) => {
      const r = ttr(ex.response);
      if (r.words < this.minWords) {
        this.skipped++;
        return { id: ex.id, values: {}, note: `${r.words} word(s), fewer than min_words = ${this.minWords}` };
      }
      this.n++;
      const delta = r.ratio - this.mean;
      this.mean += delta / this.n;
      this.m2 += delta * (r.ratio - this.mean);
      return { id: ex.id, values: { ttr: r.ratio }, note: '' };
    });
  }

  /** aggregate is the cell's mean with its standard error. */
  aggregate() {
    const stderr = this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1) / this.n) : 0;
    return {
      // An empty cell reports 0 with n = 0 rather than NaN, which JSON and
      // the host's store cannot carry.
      values: { value: this.mean, n: this.n, stderr },
      details: { skipped: this.skipped, min_words: this.minWords },
    };
  }
}

module.exports = { words, ttr, Accumulator };
