// llama.cpp's Vulkan backend through node-llama-cpp, for docs/BENCHMARKS.md's lavapipe table.
// Run in a folder where node-llama-cpp is installed (bench/vs-llama.sh installs one):
//   GGML_VK_VISIBLE_DEVICES=0 REPS=2 N=16 node llama-cpp-vulkan.mjs MODEL PROMPT
// Without GGML_VK_VISIBLE_DEVICES=0 llama.cpp skips lavapipe and silently runs on the CPU;
// NLC_LOG=1 prints its log, which names the device used.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [,, path, prompt] = process.argv;
const llama = await getLlama({gpu: "vulkan", build: "never", logLevel: (process.env.NLC_LOG ? LlamaLogLevel.info : LlamaLogLevel.error)});
const model = await llama.loadModel({modelPath: path, gpuLayers: "max"});
if (process.env.NLC_LOG) console.log("gpu", llama.gpu, await llama.getGpuDeviceNames());
let best = [0, 0], np = 0;
const REPS = +(process.env.REPS || 3), N = +(process.env.N || 64);
for (let rep = 0; rep < REPS; rep++) {
  const ctx = await model.createContext({contextSize: 512, threads: 2, batchSize: 512});
  const seq = ctx.getSequence();
  const toks = Array.from(model.tokenize(prompt, false));
  np = toks.length;
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(toks);
  const pp = toks.length / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  let n = 0;
  for await (const tok of seq.evaluate([toks[toks.length - 1]], {temperature: 0})) { if (++n >= N) break; }
  const tg = n / ((performance.now() - t0) / 1000);
  best = [Math.max(best[0], pp), Math.max(best[1], tg)];
  await ctx.dispose();
}
console.log(`${path} prompt ${np} tok ${best[0].toFixed(1)} tok/s, generation ${N} tok ${best[1].toFixed(1)} tok/s`);
