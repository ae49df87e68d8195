// Runs a GGUF file through llama.cpp (the npm package node-llama-cpp, its
// prebuilt CPU llama.cpp) and prints what it computes as JSON, for
// test_gguf_llama_cpp.cpp to compare with seedforge's engine.
//
// usage: node llama_cpp_check.mjs PACKAGE_DIR MODEL.gguf REQUEST_JSON
//   PACKAGE_DIR   folder whose node_modules holds node-llama-cpp
//   REQUEST_JSON  {"prompts": [[ids...], ...], "steps": n, "top_k": k,
//                  "threads": t, "speed_tokens": m, "texts": [strings]}
// prints {"prompts": [{"tokens": [greedy ids], "top": [[[id, logprob], ...] per step]}],
//         "speed": {"tokens": m, "seconds": s}, "tokenized": [[ids] per text]}
// Token ids go in and come out as ids, so the comparison is of the network
// alone; llama.cpp's tokenizer (the GGUF's vocabulary) is checked apart, on
// "texts" (no BOS, no special tokens). Log-probabilities are
// log(softmax(logits)) as llama.cpp's sampler reports them at temperature 1
// with no top-k/top-p/min-p cut; the greedy token is their argmax.
import { pathToFileURL } from "node:url";

const [packageDir, modelPath, requestText] = process.argv.slice(2);
if (!packageDir || !modelPath || !requestText) {
  console.error("usage: node llama_cpp_check.mjs PACKAGE_DIR MODEL.gguf REQUEST_JSON");
  process.exit(2);
}
const request = JSON.parse(requestText);
const entry = pathToFileURL(`${packageDir}/node_modules/node-llama-cpp/dist/index.js`).href;
const { getLlama, LlamaLogLevel } = await import(entry);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const longest = Math.max(...request.prompts.map((p) => p.length)) + request.steps + 1;
const context = await model.createContext({
  contextSize: Math.max(longest, (request.speed_tokens ?? 0) + 2, 64),
  threads: request.threads ?? 1,
  sequences: 1,
});
const distribution = { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } };

function topEntries(probabilities, k) {
  // Entries whose probability underflowed to 0 have no finite log and are left out.
  const all = [...probabilities.entries()].filter(([, p]) => p > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return all.slice(0, k).map(([id, p]) => [id, Math.log(p)]);
}

const out = { prompts: [] };
const sequence = context.getSequence();
for (const prompt of request.prompts) {
  await sequence.clearHistory();
  let input = prompt.map((t, i) => (i === prompt.length - 1 ? [t, { generateNext: distribution }] : t));
  const tokens = [];
  const top = [];
  for (let step = 0; step < request.steps; ++step) {
    const results = await sequence.controlledEvaluate(input);
    const next = results[input.length - 1].next;
    const best = topEntries(next.probabilities, request.top_k);
    top.push(best);
    tokens.push(best[0][0]);
    input = [[best[0][0], { generateNext: distribution }]];
  }
  out.prompts.push({ tokens, top });
}

out.tokenized = (request.texts ?? []).map((text) => Array.from(model.tokenize(text)));

if (request.speed_tokens) {
  // Greedy decoding one token at a time from BOS, timed (prompt excluded).
  await sequence.clearHistory();
  const greedy = { token: true, options: { temperature: 0 } };
  let results = await sequence.controlledEvaluate([[request.prompts[0][0], { generateNext: greedy }]]);
  let token = results[0].next.token;
  const start = process.hrtime.bigint();
  for (let i = 0; i < request.speed_tokens; ++i) {
    results = await sequence.controlledEvaluate([[token, { generateNext: greedy }]]);
    token = results[0].next.token;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  out.speed = { tokens: request.speed_tokens, seconds };
}

console.log(JSON.stringify(out));
await context.dispose();
await model.dispose();
await llama.dispose();
