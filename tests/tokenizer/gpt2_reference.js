// Reference ids for the GPT-2 BPE test from the npm package gpt-3-encoder
// (1.1.4), the independent implementation seedforge's encoder.json+vocab.bpe
// path must match id for id.
//
//   node gpt2_reference.js <gpt-3-encoder dir> <text file> ids <out>
//       one line of space-separated ids per input line (lines split on '\n')
//   node gpt2_reference.js <gpt-3-encoder dir> <text file> summary <out> [n_full]
//       the small file committed as tests/tokenizer/data/gpt2_wikitext_reference.txt:
//       "L <line> <n_ids> <fnv1a32 of the ids joined by ' '>" for every line,
//       then "I <line> <ids...>" for the first n_full lines (default 100)
//
// Setup: npm install --prefix <dir> gpt-3-encoder@1.1.4
'use strict';
const fs = require('fs');
const path = require('path');

const [pkgDir, input, mode, output, nFullArg] = process.argv.slice(2);
if (!pkgDir || !input || !['ids', 'summary'].includes(mode) || !output) {
  console.error('usage: node gpt2_reference.js <gpt-3-encoder dir> <text file> ids|summary <out> [n_full]');
  process.exit(2);
}
const { encode } = require(path.resolve(pkgDir));
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;

const text = fs.readFileSync(input, 'utf8');
const lines = text.split('\n');
if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

function fnv1a32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  }
  return h >>> 0;
}

const out = [];
if (mode === 'ids') {
  for (const line of lines) out.push(encode(line).join(' '));
} else {
  const nFull = nFullArg === undefined ? 100 : parseInt(nFullArg, 10);
  out.push(`# gpt-3-encoder ${version} encode() of each line of ${path.basename(input)} (split on '\\n'), ` +
           `written by tests/tokenizer/gpt2_reference.js summary`);
  out.push(`# L <line> <number of ids> <FNV-1a 32 of the ids joined by ' ', hex>; I <line> <ids> for the first ${nFull} lines`);
  out.push(`N ${lines.length}`);
  const full = [];
  lines.forEach((line, i) => {
    const ids = encode(line).join(' ');
    out.push(`L ${i} ${ids === '' ? 0 : ids.split(' ').length} ${fnv1a32(ids).toString(16).padStart(8, '0')}`);
    if (i < nFull) full.push(`I ${i} ${ids}`);
  });
  out.push(...full);
}
fs.writeFileSync(output, out.join('\n') + '\n');
