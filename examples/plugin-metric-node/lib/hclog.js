'use strict';
// A logger writing JSON lines to stderr in hclog's shape, which go-plugin
// parses and re-logs on the host side under the plugin's name. stdout is
// reserved for the handshake line: anything else there breaks the protocol.

const LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

// hclog's timestamp layout has exactly six fractional digits, and go-plugin
// rejects a line whose timestamp does not parse with that layout.
function timestamp(d = new Date()) {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function makeLogger(minLevel = process.env.POLYGLOT_PLUGIN_LOG_LEVEL || 'info', out = process.stderr) {
  const min = LEVELS[minLevel] ?? LEVELS.info;
  const log = (level, message, fields = {}) => {
    if (LEVELS[level] < min) return;
    out.write(JSON.stringify({ '@level': level, '@message': message, '@timestamp': timestamp(), ...fields }) + '\n');
  };
  return {
    trace: (m, f) => log('trace', m, f),
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

module.exports = { makeLogger, timestamp };
