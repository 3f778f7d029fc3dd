'use strict';
// Writes a pinned launcher: a /bin/sh script that runs this plugin's
// index.js with this node binary, both by absolute path. `polyglot plugins
// install` copies the launcher and checksums it; the launcher keeps working
// wherever the copy lands, as long as this folder stays where it is.
//
//   node scripts/make-wrapper.js OUT      (or: npm run wrapper -- OUT)

const fs = require('node:fs');
const path = require('node:path');

// shQuote quotes a string for /bin/sh: single quotes, with each embedded
// single quote written as '\''.
function shQuote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function wrapperText(nodePath, indexPath) {
  return `#!/bin/sh
# polyglot-plugin-ttr, pinned by scripts/make-wrapper.js: runs this node on
# this index.js. Rebuild it if either moves.
exec ${shQuote(nodePath)} ${shQuote(indexPath)} "$@"
`;
}

function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write('usage: node scripts/make-wrapper.js OUT (the file to write, e.g. ./polyglot-plugin-ttr-pinned)\n');
    process.exit(2);
  }
  const out = path.resolve(argv[0]);
  const index = path.resolve(__dirname, '..', 'index.js');
  if (!fs.existsSync(path.resolve(__dirname, '..', 'node_modules'))) {
    process.stderr.write(`make-wrapper: ${path.dirname(index)} has no node_modules; run \`npm ci\` there first\n`);
    process.exit(1);
  }
  fs.writeFileSync(out, wrapperText(process.execPath, index), { mode: 0o755 });
  fs.chmodSync(out, 0o755);
  process.stderr.write(`wrote ${out}\n`);
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { shQuote, wrapperText };
