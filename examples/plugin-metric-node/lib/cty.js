'use strict';
// Decoding of polyglot config values. The host sends a component's config
// as go-cty's msgpack encoding against cty.DynamicPseudoType: a two-element
// array [type as cty JSON type notation (bytes), value]. Objects are msgpack
// maps, numbers are ints or float64 (or a decimal string when neither is
// exact), null is nil, and an unknown value is a msgpack extension. Nested
// attributes of type "dynamic" carry the same [type, value] wrapping.
// @msgpack/msgpack does the msgpack; this file only walks the cty type.

const { decode, encode, ExtData } = require('@msgpack/msgpack');

class ConfigError extends Error {}

function typeFromBytes(b) {
  try {
    return JSON.parse(Buffer.from(b).toString('utf8'));
  } catch (e) {
    throw new ConfigError(`config type is not cty JSON type notation: ${e.message}`);
  }
}

function where(path) {
  return path.length === 0 ? 'the config' : path.join('.');
}

// fromCty converts a decoded msgpack value of cty type ty to plain JS.
function fromCty(ty, v, path) {
  if (v instanceof ExtData) {
    throw new ConfigError(`${where(path)} is not known yet (an unknown cty value); polyglot sends only known configs`);
  }
  if (v === null || v === undefined) return null;
  if (ty === 'dynamic') {
    if (!Array.isArray(v) || v.length !== 2) {
      throw new ConfigError(`${where(path)}: a dynamic value must be a [type, value] pair`);
    }
    return fromCty(typeFromBytes(v[0]), v[1], path);
  }
  if (ty === 'number') {
    // Decimal strings carry numbers a float64 cannot hold exactly.
    const n = Number(v);
    if (Number.isNaN(n)) throw new ConfigError(`${where(path)}: ${JSON.stringify(v)} is not a number`);
    return n;
  }
  if (ty === 'string' || ty === 'bool') return v;
  if (Array.isArray(ty)) {
    const [kind, inner] = ty;
    switch (kind) {
      case 'list':
      case 'set':
        return v.map((e, i) => fromCty(inner, e, path.concat(String(i))));
      case 'map': {
        const out = {};
        for (const [k, e] of Object.entries(v)) out[k] = fromCty(inner, e, path.concat(k));
        return out;
      }
      case 'object': {
        const out = {};
        for (const [k, t] of Object.entries(inner)) out[k] = fromCty(t, v[k], path.concat(k));
        return out;
      }
      case 'tuple':
        return inner.map((t, i) => fromCty(t, v[i], path.concat(String(i))));
    }
  }
  throw new ConfigError(`${where(path)} has cty type ${JSON.stringify(ty)}, which this plugin does not decode`);
}

/**
 * decodeConfig turns a DynamicValue's msgpack bytes into a plain object;
 * empty bytes mean an empty config.
 */
function decodeConfig(bytes) {
  if (!bytes || bytes.length === 0) return {};
  let raw;
  try {
    raw = decode(bytes);
  } catch (e) {
    throw new ConfigError(`config is not valid msgpack: ${e.message}`);
  }
  const v = fromCty('dynamic', raw, []);
  return v === null ? {} : v;
}

/** encodeNumber is the msgpack of a cty number, for schema defaults. */
function encodeNumber(n) {
  return Buffer.from(encode(n));
}

module.exports = { decodeConfig, encodeNumber, ConfigError };
