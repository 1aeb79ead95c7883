// Node.js half of the differential test (scripts/difftest): prints, for
// each module given, the same lines as fuzz/difftest.c (tw-difftest)
// prints for ours.  See that file for the format.
//
//   node scripts/difftest.mjs FILE.wasm...
import { readFileSync, writeFileSync } from 'node:fs';

const out = [];
const put = (s) => out.push(s);
const hex = (v, n) => v.toString(16).padStart(n, '0');
const f32b = new Float32Array(1), u32b = new Uint32Array(f32b.buffer);
const f64b = new Float64Array(1), u64b = new BigUint64Array(f64b.buffer);

function fmt(type, v) {
  switch (type) {
    case 'i32': return 'i32:' + hex(v >>> 0, 8);
    case 'i64': return 'i64:' + hex(BigInt.asUintN(64, BigInt(v)), 16);
    case 'f32':
      if (Number.isNaN(v)) return 'f32:nan';
      f32b[0] = v; return 'f32:' + hex(u32b[0], 8);
    case 'f64':
      if (Number.isNaN(v)) return 'f64:nan';
      f64b[0] = v; return 'f64:' + hex(u64b[0], 16);
    case 'funcref': return 'ref:' + (v === null ? 'null' : 'func');
    case 'externref': return 'ref:' + (v === null || v === undefined ? 'null' : 'extern');
    default: return '?';
  }
}

// A JS value whose wasm type we only know from its JS type and a hint.
function fmtLoose(hint, v) {
  if (typeof v === 'bigint') return fmt('i64', v);
  if (typeof v === 'function') return 'ref:func';
  if (v === null) return 'ref:null';
  return fmt(hint === 'i64' ? 'i32' : hint, v);
}

// V8's trap messages, in the categories tw-difftest uses.
function trapCategory(e) {
  if (e instanceof RangeError && /call stack/i.test(e.message)) return 'stack';
  if (!(e instanceof WebAssembly.RuntimeError)) return 'jserror:' + e.constructor.name + ':' + e.message;
  const m = e.message;
  if (/^unreachable/.test(m)) return 'unreachable';
  if (/memory access out of bounds|data segment/.test(m)) return 'memory';
  if (/null function or function signature mismatch/.test(m)) return 'indirect';
  if (/table index is out of bounds|table access|element segment|invalid index into function table/.test(m)) return 'table';
  if (/divide by zero|remainder by zero/.test(m)) return 'divzero';
  // "divide result unrepresentable", "float unrepresentable in integer range"
  if (/unrepresentable/.test(m)) return 'overflow';
  return 'other:' + m;
}

// Function types of exports, from the binary (Node has no type reflection
// by default): type, import, function and export sections.
function exportTypes(bytes) {
  let p = 8;
  const u = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  const vt = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x70: 'funcref', 0x6f: 'externref', 0x7b: 'v128' };
  const types = [], funcs = [], globals = [], exports = new Map();
  const name = () => { const n = u(); const s = Buffer.from(bytes.subarray(p, p + n)).toString('utf8'); p += n; return s; };
  const limits = () => { const f = u(); u(); if (f & 1) u(); };
  while (p < bytes.length) {
    const id = bytes[p++], size = u(), end = p + size;
    if (id === 1) {
      for (let n = u(); n--;) {
        p++; // 0x60
        const ps = []; for (let k = u(); k--;) ps.push(vt[bytes[p++]]);
        const rs = []; for (let k = u(); k--;) rs.push(vt[bytes[p++]]);
        types.push({ params: ps, results: rs });
      }
    } else if (id === 2) {
      for (let n = u(); n--;) {
        name(); name();
        const kind = bytes[p++];
        if (kind === 0) funcs.push(u());
        else if (kind === 1) { p++; limits(); }
        else if (kind === 2) limits();
        else if (kind === 3) { globals.push(vt[bytes[p]]); p += 2; }
      }
    } else if (id === 3) {
      for (let n = u(); n--;) funcs.push(u());
    } else if (id === 6) {
      for (let n = u(); n--;) {
        globals.push(vt[bytes[p]]);
        p += 2;
        for (let op; (op = bytes[p++]) !== 0x0b;) { // a constant expression
          if (op === 0x41 || op === 0x42 || op === 0x23 || op === 0xd2) u();
          else if (op === 0x43) p += 4;
          else if (op === 0x44) p += 8;
          else if (op === 0xd0) p++;
        }
      }
    } else if (id === 7) {
      for (let n = u(); n--;) {
        const nm = name(), kind = bytes[p++], idx = u();
        if (kind === 0) exports.set(nm, types[funcs[idx]]);
        else if (kind === 3) exports.set(nm, globals[idx]);
      }
    }
    p = end;
  }
  return exports;
}

function memHash(mem) {
  const b = new Uint8Array(mem.buffer);
  let h1 = 2166136261, h2 = 0;
  for (let i = 0; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i], 16777619) >>> 0;
    h2 = (Math.imul(h2, 31) + b[i]) >>> 0;
  }
  return hex(h1, 8) + hex(h2, 8);
}

function runModule(path) {
  put('module ' + path);
  let bytes, mod, inst;
  try { bytes = readFileSync(path); } catch { put('read error'); return; }
  try { mod = new WebAssembly.Module(bytes); } catch (e) {
    put('compile error'); return;
  }
  let tempRet0 = 0;
  const logger = (name) => {
    const hint = name.slice(4);
    return (...args) => { put('log ' + name + (args.length ? ' ' : '') + args.map((a) => fmtLoose(hint, a)).join(' ')); };
  };
  const imports = { 'fuzzing-support': {}, env: {} };
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.kind !== 'function') { put('link error'); return; }
    if (imp.module === 'fuzzing-support' && imp.name.startsWith('log-')) imports[imp.module][imp.name] = logger(imp.name);
    else if (imp.module === 'env' && imp.name === 'setTempRet0') imports.env.setTempRet0 = (x) => { tempRet0 = x; };
    else if (imp.module === 'env' && imp.name === 'getTempRet0') imports.env.getTempRet0 = () => tempRet0;
    else { put('link error'); return; }
  }
  try { inst = new WebAssembly.Instance(mod, imports); } catch (e) {
    if (e instanceof WebAssembly.LinkError) put('link error');
    else put('instantiate trap ' + trapCategory(e));
    return;
  }
  put('instantiate ok');
  const types = exportTypes(bytes);
  const ex = inst.exports;
  const hang = typeof ex.hangLimitInitializer === 'function' ? ex.hangLimitInitializer : null;
  for (const { name, kind } of WebAssembly.Module.exports(mod)) {
    if (kind !== 'function') continue;
    const t = types.get(name);
    if (hang) { try { hang(); } catch { /* as ours: ignored */ } }
    put('call ' + name);
    const args = t.params.map((p) => (p === 'i64' ? 0n : p === 'funcref' || p === 'externref' ? null : 0));
    try {
      let r = ex[name](...args);
      if (t.results.length === 1) r = [r];
      else if (t.results.length === 0) r = [];
      put('result' + t.results.map((rt, i) => ' ' + fmt(rt, r[i])).join(''));
    } catch (e) {
      put('trap ' + trapCategory(e));
    }
  }
  for (const { name, kind } of WebAssembly.Module.exports(mod)) {
    if (kind === 'global') {
      put('global ' + name + ' ' + fmt(types.get(name), ex[name].value));
    } else if (kind === 'memory') {
      put('memory ' + name + ' ' + ex[name].buffer.byteLength / 65536 + ' ' + memHash(ex[name]));
      if (process.env.TW_DIFFTEST_DUMP) writeFileSync(process.env.TW_DIFFTEST_DUMP + '.' + name + '.node.bin', new Uint8Array(ex[name].buffer));
    }
  }
}

for (const path of process.argv.slice(2)) {
  try { runModule(path); } catch (e) { put('harness error ' + e); }
  put('end');
  if (out.length > 4096) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
}
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
