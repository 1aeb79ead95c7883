// An independent OTLP trace receiver for TensorWasm's tests.
//
// It decodes export requests with OpenTelemetry's own published protobuf
// definitions (the generated decoders shipped in
// @opentelemetry/otlp-transformer) and serves:
//   - gRPC (@grpc/grpc-js): opentelemetry.proto.collector.trace.v1.TraceService/Export
//   - http/protobuf (node:http): POST /v1/traces
// on 127.0.0.1, on ports chosen by the kernel.
//
// Usage: node receiver.js --out FILE [--unavailable N]
//   Writes one JSON object per received span to FILE (appended, written
//   before the reply is sent), then prints "READY grpc=PORT http=PORT".
//   --unavailable N: answer the first N requests (either protocol) with
//   UNAVAILABLE / HTTP 503, to exercise the exporter's retries.
//   Exits when stdin closes (the test that started it is gone) or on SIGTERM.
'use strict';

const fs = require('fs');
const http = require('http');
const grpc = require('@grpc/grpc-js');
const Long = require('long');
const protobuf = require('protobufjs/minimal');

// 64-bit integers (times, int attributes) decode to Long, exactly.
protobuf.util.Long = Long;
protobuf.configure();

const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const v1 = root.opentelemetry.proto.collector.trace.v1;
const Request = v1.ExportTraceServiceRequest;
const Response = v1.ExportTraceServiceResponse;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const outFile = arg('--out', null);
let unavailable = parseInt(arg('--unavailable', '0'), 10);
if (!outFile) {
  process.stderr.write('receiver: --out FILE is required\n');
  process.exit(2);
}

const hex = (b) => (b && b.length ? Buffer.from(b).toString('hex') : '');
const long = (v) => (v === undefined || v === null ? null : Long.fromValue(v).toString());

function anyValue(v) {
  if (!v) return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.intValue !== undefined && v.intValue !== null) return { int: long(v.intValue) };
  if (v.doubleValue !== undefined && v.doubleValue !== null) return { double: v.doubleValue };
  return { other: JSON.stringify(v) };
}

function attrs(list) {
  const o = {};
  for (const kv of list || []) o[kv.key] = anyValue(kv.value);
  return o;
}

// Flattens one request into span records and appends them to outFile.
function record(req, protocol) {
  const lines = [];
  for (const rs of req.resourceSpans || []) {
    const resource = attrs(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      const scope = ss.scope ? ss.scope.name : '';
      for (const s of ss.spans || []) {
        lines.push(JSON.stringify({
          protocol,
          resource,
          service_name: resource['service.name'],
          scope,
          name: s.name,
          trace_id: hex(s.traceId),
          span_id: hex(s.spanId),
          parent_span_id: hex(s.parentSpanId),
          kind: s.kind,
          start: long(s.startTimeUnixNano),
          end: long(s.endTimeUnixNano),
          flags: s.flags,
          attributes: attrs(s.attributes),
          events: (s.events || []).map((e) => ({
            name: e.name, time: long(e.timeUnixNano), attributes: attrs(e.attributes),
          })),
          status: s.status ? { code: s.status.code || 0, message: s.status.message || '' } : null,
        }));
      }
    }
  }
  if (lines.length) fs.appendFileSync(outFile, lines.join('\n') + '\n');
  return lines.length;
}

function takeFailure() {
  if (unavailable <= 0) return false;
  unavailable--;
  return true;
}

const service = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m) => Buffer.from(Request.encode(m).finish()),
    requestDeserialize: (b) => Request.decode(b),
    responseSerialize: (m) => Buffer.from(Response.encode(m).finish()),
    responseDeserialize: (b) => Response.decode(b),
  },
};

const grpcServer = new grpc.Server();
grpcServer.addService(service, {
  Export(call, callback) {
    if (takeFailure()) {
      callback({ code: grpc.status.UNAVAILABLE, details: 'test: unavailable' });
      return;
    }
    try {
      record(call.request, 'grpc');
      callback(null, Response.create({}));
    } catch (e) {
      callback({ code: grpc.status.INTERNAL, details: String(e) });
    }
  },
});

const httpServer = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/traces') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (takeFailure()) {
      res.writeHead(503).end();
      return;
    }
    if (req.headers['content-type'] !== 'application/x-protobuf') {
      res.writeHead(415).end();
      return;
    }
    try {
      record(Request.decode(Buffer.concat(chunks)), 'http/protobuf');
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(e));
      return;
    }
    const body = Buffer.from(Response.encode(Response.create({})).finish());
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(body);
  });
});

function shutdown() {
  httpServer.close();
  grpcServer.forceShutdown();
  process.exit(0);
}

grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, grpcPort) => {
  if (err) {
    process.stderr.write(`receiver: gRPC bind failed: ${err}\n`);
    process.exit(1);
  }
  httpServer.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY grpc=${grpcPort} http=${httpServer.address().port}\n`);
  });
});

process.on('SIGTERM', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
