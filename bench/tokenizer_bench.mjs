// Encoding throughput (MiB/s, as Google Benchmark reports it) of Hugging Face's tokenizers (npm package, installed by
// scripts/fetch_test_data.sh) on the inputs of bench/tokenizer_bench.cpp, for comparison.
// usage (from the source root): node bench/tokenizer_bench.mjs
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'tests', '.data', 'node', 'package.json'));
const { Tokenizer } = require('tokenizers');

const kCodeBytes = 1 << 20;

// The regular files (not symlinks) of `dir` passing `keep`, sorted by name, concatenated.
function concatenate(dir, keep) {
  const names = readdirSync(dir)
    .filter((n) => keep(n) && lstatSync(join(dir, n)).isFile())
    .sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
  return Buffer.concat(names.map((n) => readFileSync(join(dir, n))));
}

const english = concatenate('/usr/share/common-licenses', () => true);
let code = concatenate('/usr/include', (n) => n.endsWith('.h'));
if (code.length > kCodeBytes) code = code.subarray(0, code.lastIndexOf(10, kCodeBytes - 1) + 1);

const inputs = { english, code };
for (const name of ['llama3_1', 'qwen3']) {
  let start = process.hrtime.bigint();
  const tokenizer = Tokenizer.fromFile(`tests/.data/tokenizers/${name}/tokenizer.json`);
  const loadMs = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(`load ${name}: ${loadMs.toFixed(1)} ms`);
  for (const [kind, bytes] of Object.entries(inputs)) {
    const text = bytes.toString('utf8');
    await tokenizer.encode(text, null, { addSpecialTokens: false });  // warm the cache
    let iterations = 0;
    let tokens = 0;
    start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 2 || iterations < 3) {
      const encoding = await tokenizer.encode(text, null, { addSpecialTokens: false });
      tokens = encoding.getIds().length;
      iterations += 1;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    const mibPerS = (bytes.length * iterations) / elapsed / (1 << 20);
    console.log(`encode ${name} ${kind}: ${mibPerS.toFixed(2)} MiB/s ` +
                `(${bytes.length} bytes, ${tokens} tokens, ${iterations} iterations)`);
  }
}
