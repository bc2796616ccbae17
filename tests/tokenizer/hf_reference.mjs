// Reference encodings from Hugging Face tokenizers (npm package `tokenizers`, installed by
// scripts/fetch_test_data.sh into tests/.data/node) for the differential tests.
// usage: node hf_reference.mjs TOKENIZER_JSON INPUT_JSON OUTPUT_JSON
//   INPUT_JSON: a list of base64 strings (raw bytes; invalid UTF-8 is replaced by U+FFFD exactly
//   as Rust's from_utf8_lossy does). OUTPUT_JSON: a list of {ids, ids_with_special, decoded,
//   decoded_skip_special}.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '.data', 'node', 'package.json'));
const { Tokenizer } = require('tokenizers');

const [tokenizerPath, inputPath, outputPath] = process.argv.slice(2);
const tokenizer = Tokenizer.fromFile(tokenizerPath);
const inputs = JSON.parse(readFileSync(inputPath, 'utf8'));
const results = [];
for (const b64 of inputs) {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const plain = await tokenizer.encode(text, null, { addSpecialTokens: false });
  const special = await tokenizer.encode(text, null, { addSpecialTokens: true });
  const ids = plain.getIds();
  results.push({
    ids,
    ids_with_special: special.getIds(),
    decoded: await tokenizer.decode(ids, false),
    decoded_skip_special: await tokenizer.decode(ids, true),
  });
}
writeFileSync(outputPath, JSON.stringify(results));
