// Runs a wasm32-wasi command module under Node.js's WebAssembly engine (V8)
// with node:wasi, the way bench/run-cpu runs every engine:
//
//   node --no-warnings bench/cpu/node-wasi.mjs FILE.wasm [ARGS...]
//
// The guest sees FILE.wasm as argv[0], no environment and no preopened
// directories; its exit status becomes ours.
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { WASI } from 'node:wasi';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node node-wasi.mjs FILE.wasm [ARGS...]\n');
  process.exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: [file, ...args],
  env: {},
  preopens: {},
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
