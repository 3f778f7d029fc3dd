#!/usr/bin/env node
'use strict';
// polyglot-plugin-ttr: a polyglot metric plugin written in Node.js.
//
// It carries one metric component, "ttr": the type–token ratio of each
// response (distinct lower-cased words / words), with the cell value being
// the mean over responses. It speaks the published plugin protocol
// (sdk/proto/polyglot/plugin/v1/plugin.proto) through hashicorp/go-plugin's
// gRPC transport, exactly like a Go plugin built with the polyglot SDK, so
// that the host cannot tell the difference. README.md walks through it.
//
// Run it with the single argument "describe" to print what it carries as
// JSON; otherwise only the polyglot host may start it.

const path = require('node:path');
const crypto = require('node:crypto');

// A missing dependency is almost always a checkout without `npm ci`: say so
// instead of printing a stack trace at the host.
function need(name) {
  try {
    return require(name);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${name}'`)) {
      process.stderr.write(`polyglot-plugin-ttr: the Node.js package ${name} is not installed; run \`npm ci\` in ${__dirname}\n`);
      process.exit(1);
    }
    throw e;
  }
}
const grpc = need('@grpc/grpc-js');
const protoLoader = need('@grpc/proto-loader');
const { HealthImplementation } = need('grpc-health-check');
const selfsigned = need('selfsigned');
need('@msgpack/msgpack');

const { decodeConfig, encodeNumber, ConfigError } = require('./lib/cty');
const { Accumulator } = require('./lib/ttr');
const { makeLogger } = require('./lib/hclog');

const NAME = 'ttr';
const VERSION = require('./package.json').version;
// The polyglot plugin protocol version (the handshake's second field).
const PROTOCOL_VERSION = 1;
// go-plugin's own protocol version (the handshake's first field).
const CORE_PROTOCOL_VERSION = 1;
const MAGIC_COOKIE_KEY = 'POLYGLOT_PLUGIN_MAGIC_COOKIE';
const MAGIC_COOKIE_VALUE = 'd6f0c1b8e5a34f7c9b2e8a41c3d57f09';
// Same as the Go SDK: large batches must not fail on gRPC's 4 MiB default.
const MAX_MESSAGE_BYTES = 256 << 20;

const log = makeLogger();

// ---------------------------------------------------------------- the component

const DEFAULT_MIN_WORDS = 1;

const component = {
  kind: 'KIND_METRIC',
  name: 'ttr',
  description: 'Type–token ratio of responses: distinct lower-cased words over words, averaged over the cell.',
  schema: {
    block: {
      description: '',
      attributes: [
        {
          name: 'min_words',
          // cty JSON type notation: the JSON string "number".
          type: Buffer.from(JSON.stringify('number')),
          description: 'Responses with fewer words get no value and stay out of the mean.',
          required: false,
          sensitive: false,
          default_msgpack: encodeNumber(DEFAULT_MIN_WORDS),
        },
      ],
      block_types: [],
    },
  },
  metric: { direction: 'higher', values: ['ttr'], wants_reference: false },
};

function errorDiag(summary, detail, attr) {
  const d = { severity: 'SEVERITY_ERROR', summary, detail };
  if (attr) d.attribute = { steps: [{ attribute_name: attr }] };
  return d;
}

// validate checks a decoded config beyond its schema (the host has already
// checked types) and returns [minWords, diagnostics].
function validate(cfg) {
  const mw = cfg.min_words;
  if (mw === null || mw === undefined) return [DEFAULT_MIN_WORDS, []];
  if (!Number.isFinite(mw) || mw < 1) {
    return [mw, [errorDiag('min_words must be at least 1',
      `min_words = ${mw}: a response needs at least one word to have a type–token ratio. Set min_words to 1 or more, or leave it out (default ${DEFAULT_MIN_WORDS}).`,
      'min_words')]];
  }
  if (!Number.isInteger(mw)) {
    return [mw, [errorDiag('min_words must be a whole number',
      `min_words = ${mw}: words are counted, so use a whole number such as ${Math.ceil(mw)}.`, 'min_words')]];
  }
  return [mw, []];
}

// ---------------------------------------------------------------- RPCs

function status(code, details) {
  return { code, details };
}

function unknownComponent(kind, name) {
  const k = { KIND_TEACHER: 'teacher', KIND_METRIC: 'metric', KIND_TRAINER: 'trainer' }[kind] || 'unknown';
  return status(grpc.status.NOT_FOUND, `this plugin has no ${k} component named ${JSON.stringify(name)}`);
}

function isOurs(kind, name) {
  return kind === component.kind && name === component.name;
}

const pluginService = {
  GetInfo(call, cb) {
    cb(null, { name: NAME, version: VERSION, protocol_version: PROTOCOL_VERSION, components: [component], diagnostics: [] });
  },
  GetSchema(call, cb) {
    const { kind, component: name } = call.request;
    if (!isOurs(kind, name)) return cb(unknownComponent(kind, name));
    cb(null, { schema: component.schema, diagnostics: [] });
  },
  ValidateConfig(call, cb) {
    const { kind, component: name, config } = call.request;
    if (!isOurs(kind, name)) return cb(unknownComponent(kind, name));
    let cfg;
    try {
      cfg = decodeConfig(config && config.msgpack);
    } catch (e) {
      return cb(status(grpc.status.INVALID_ARGUMENT, e.message));
    }
    cb(null, { diagnostics: validate(cfg)[1] });
  },
};

// Compute follows the Go SDK's stream contract: Open is answered by one
// response carrying only diagnostics; each Reference and Batch by exactly
// one response (Values for a Batch); Finish by zero or more Values
// responses and then one Aggregate, after which the stream ends.
function Compute(call) {
  let acc = null; // set once Open succeeded
  let finished = false;
  let failed = false;
  const fail = (code, details) => {
    if (failed || finished) return;
    failed = true;
    call.emit('error', status(code, details));
  };

  call.on('data', (req) => {
    if (failed || finished) return;
    try {
      if (acc === null) {
        if (req.msg !== 'open') return fail(grpc.status.INVALID_ARGUMENT, 'the first message of a Compute stream must be Open');
        const o = req.open;
        if (o.component !== component.name) {
          const e = unknownComponent('KIND_METRIC', o.component);
          return fail(e.code, e.details);
        }
        let cfg;
        try {
          cfg = decodeConfig(o.config && o.config.msgpack);
        } catch (e) {
          if (e instanceof ConfigError) return fail(grpc.status.INVALID_ARGUMENT, e.message);
          throw e;
        }
        const [minWords, diags] = validate(cfg);
        call.write({ diagnostics: diags });
        if (diags.some((d) => d.severity === 'SEVERITY_ERROR')) {
          finished = true;
          call.end();
          return;
        }
        acc = new Accumulator(minWords);
        log.debug('cell opened', { cell: o.cell, language: o.language, min_words: minWords });
        return;
      }
      switch (req.msg) {
        case 'reference': // not wanted (wants_reference is false), but acknowledged as the protocol requires
          call.write({ diagnostics: [] });
          return;
        case 'batch':
          call.write({ values: { values: acc.add(req.batch.examples || []) }, diagnostics: [] });
          return;
        case 'finish': {
          // Values went out with each batch, so Finish sends only the Aggregate.
          const a = acc.aggregate();
          if (a.values.n === 0) log.warn('no response had enough words for a type–token ratio', { min_words: acc.minWords, skipped: acc.skipped });
          finished = true;
          call.write({ aggregate: { values: a.values, details_json: JSON.stringify(a.details) }, diagnostics: [] });
          call.end();
          return;
        }
        default:
          return fail(grpc.status.INVALID_ARGUMENT, 'unexpected message on a Compute stream');
      }
    } catch (e) {
      log.error('metric failed', { error: String(e && e.stack || e) });
      fail(grpc.status.INTERNAL, `metric ${component.name}: ${e.message}`);
    }
  });
  call.on('end', () => {
    if (!finished) fail(grpc.status.INVALID_ARGUMENT, 'the host closed the stream before Finish');
  });
  call.on('cancelled', () => {
    failed = true;
    log.debug('compute stream cancelled by the host');
  });
}

// ---------------------------------------------------------------- describe

// describe prints the same JSON as the Go SDK's Describe (including the Go
// field names of its metric object), which `polyglot plugins install` reads.
function describe() {
  const cfg = component.schema.block.attributes.map((a) => {
    const o = { name: a.name, type: JSON.parse(a.type.toString('utf8')) };
    if (a.required) o.required = true;
    if (a.sensitive) o.sensitive = true;
    if (a.description) o.description = a.description;
    return o;
  });
  const out = {
    name: NAME,
    version: VERSION,
    protocol_version: PROTOCOL_VERSION,
    components: [{
      kind: 'metric',
      name: component.name,
      description: component.description,
      config: cfg,
      metric: { Direction: component.metric.direction, Values: component.metric.values, WantsReference: component.metric.wants_reference },
    }],
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

// ---------------------------------------------------------------- serving

function loadProtos() {
  const opts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  const dir = path.join(__dirname, 'proto');
  const def = protoLoader.loadSync(
    [path.join(dir, 'polyglot/plugin/v1/plugin.proto'), path.join(dir, 'go-plugin/go_plugin.proto')],
    { ...opts, includeDirs: [dir] },
  );
  return grpc.loadPackageDefinition(def);
}

// serverTLS makes the plugin's half of go-plugin's AutoMTLS: the host puts
// its own self-signed certificate in PLUGIN_CLIENT_CERT; the plugin answers
// with a fresh self-signed certificate for "localhost", trusts only the
// host's for client authentication, and sends its own (DER, base64 without
// padding) as the handshake's sixth field.
async function serverTLS(clientCertPEM) {
  const notBefore = new Date(Date.now() - 30_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: new Date(notBefore.getTime() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyAgreement: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] },
    ],
  });
  const der = new crypto.X509Certificate(pems.cert).raw;
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(clientCertPEM),
    [{ private_key: Buffer.from(pems.private), cert_chain: Buffer.from(pems.cert) }],
    true, // require and verify the host's certificate
  );
  return { creds, certField: der.toString('base64').replace(/=+$/, '') };
}

// watchParent exits when the host dies: go-plugin cannot tell a plugin that
// its host was SIGKILLed, and an orphan would hold resources forever. On
// Linux and macOS an orphan is re-parented, so its ppid changes.
function watchParent(everyMs = 500) {
  const original = process.ppid;
  const t = setInterval(() => {
    if (process.ppid !== original) {
      log.warn('the polyglot host went away; exiting', { parent: original });
      process.exit(3);
    }
  }, everyMs);
  t.unref();
}

async function serve() {
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS || String(PROTOCOL_VERSION)).split(',').map((s) => s.trim());
  if (!versions.includes(String(PROTOCOL_VERSION))) {
    throw new Error(`the host speaks plugin protocol versions ${versions.join(', ')}; this plugin speaks ${PROTOCOL_VERSION}. Install a matching plugin version`);
  }
  watchParent();
  // Like go-plugin's Go servers: a Ctrl-C in the terminal reaches the whole
  // process group, and the host, not the plugin, decides when to stop.
  process.on('SIGINT', () => log.debug('ignoring SIGINT; the host stops plugins'));

  const pkg = loadProtos();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(pkg.polyglot.plugin.v1.Plugin.service, pluginService);
  server.addService(pkg.polyglot.plugin.v1.Metric.service, { Compute });
  // go-plugin checks the health of the service named "plugin".
  new HealthImplementation({ plugin: 'SERVING', '': 'SERVING' }).addToServer(server);

  const stdioStreams = new Set();
  const shutdown = (why) => {
    log.debug('shutting down', { why });
    for (const s of stdioStreams) s.end();
    // Give in-flight responses (the Shutdown reply itself) a moment.
    const force = setTimeout(() => process.exit(0), 2000);
    server.tryShutdown(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  server.addService(pkg.plugin.GRPCController.service, {
    Shutdown(call, cb) {
      cb(null, {});
      setImmediate(() => shutdown('the host asked'));
    },
  });
  server.addService(pkg.plugin.GRPCStdio.service, {
    // Logs go to stderr directly; the stream stays open and silent.
    StreamStdio(call) {
      stdioStreams.add(call);
      call.on('cancelled', () => stdioStreams.delete(call));
    },
  });

  let creds = grpc.ServerCredentials.createInsecure();
  let certField = '';
  if (process.env.PLUGIN_CLIENT_CERT) {
    ({ creds, certField } = await serverTLS(process.env.PLUGIN_CLIENT_CERT));
  }
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  // The handshake: the one line this plugin ever writes to stdout.
  const fields = [CORE_PROTOCOL_VERSION, PROTOCOL_VERSION, 'tcp', `127.0.0.1:${port}`, 'grpc'];
  if (certField) fields.push(certField);
  process.stdout.write(fields.join('|') + '\n');
  log.debug('serving', { port, tls: Boolean(certField) });
}

function main(argv) {
  if (argv.length === 1 && argv[0] === 'describe') {
    describe();
    return;
  }
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(`${NAME}: this is a polyglot plugin: polyglot starts it, not you. To see what it carries, run it with the argument "describe"\n`);
    process.exit(1);
  }
  serve().catch((e) => {
    log.error('cannot serve', { error: e.message });
    process.stderr.write(`${NAME}: ${e.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { validate, component, describe };
