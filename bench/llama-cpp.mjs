// llama.cpp's side of bench/vs-llama.sh, through node-llama-cpp's prebuilt CPU binaries.
//
//   node bench/llama-cpp.mjs measure -m FILE [-p 128] [-n 64] [-r 1] [-t 2] [--flash-attention]
//     Measures as `isomer bench` does and prints the same JSON shape: the same prompt token ids
//     (isomer::bench::tokens), pp = the prompt evaluated in one batch from an empty cache,
//     tg = n tokens decoded one at a time after it (greedy), one untimed warm-up repetition,
//     then r timed ones.
//   node bench/llama-cpp.mjs table DIR BANDWIDTH_GBS [PEAK.json]
//     Reads DIR/m*.json (isomer bench -o json and `measure` outputs) and prints a Markdown table
//     of both engines, side by side, with the ratios; PEAK.json (isomer bench --compute-peak -o
//     json) adds the prompt's share of the compute peak.
//
// NLC_DIR names the folder where node-llama-cpp is installed (bench/vs-llama.sh does that).
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

function options(argv) {
  const o = {p: 128, n: 64, r: 1, t: 2, fa: false};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "-m") o.m = v();
    else if (a === "-p") o.p = parseInt(v(), 10);
    else if (a === "-n") o.n = parseInt(v(), 10);
    else if (a === "-r") o.r = parseInt(v(), 10);
    else if (a === "-t") o.t = parseInt(v(), 10);
    else if (a === "--flash-attention") o.fa = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.m) throw new Error("-m FILE is required");
  for (const k of ["p", "n", "r", "t"])
    if (!Number.isInteger(o[k]) || o[k] < (k === "n" ? 0 : 1)) throw new Error(`bad -${k}`);
  return o;
}

// isomer::bench::tokens(): the same ids for the same vocabulary.
function benchTokens(nVocab, n) {
  const range = Math.max(1, Math.min(Math.floor(nVocab / 2), 10000));
  return Array.from({length: n}, (_, i) => (i * 7919 + 13) % range);
}

function stats(samples) {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const sd = samples.length > 1
    ? Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (samples.length - 1)) : 0;
  return {mean, sd, samples};
}

async function measure(o) {
  const dir = process.env.NLC_DIR;
  if (!dir) throw new Error("set NLC_DIR to the folder where node-llama-cpp is installed");
  const entry = path.join(dir, "node_modules", "node-llama-cpp", "dist", "index.js");
  const {getLlama, LlamaLogLevel} = await import(pathToFileURL(entry).href);
  const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                                maxThreads: 0});
  const model = await llama.loadModel({modelPath: o.m, gpuLayers: 0});
  const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const context = await model.createContext({
    contextSize: o.p + o.n, batchSize: o.p, threads: o.t,
    flashAttention: o.fa,
  });
  const seq = context.getSequence();
  const prompt = benchTokens(nVocab, o.p);
  const pp = [], tg = [];
  for (let rep = 0; rep <= o.r; rep++) {  // repetition 0 is the warm-up
    await seq.clearHistory();
    const gen = seq.evaluate(prompt, {temperature: 0});
    let t0 = performance.now();
    await gen.next();  // the prompt in one batch, and the first token picked from its logits
    const promptS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    for (let i = 0; i < o.n; i++) await gen.next();  // one decode of one token each
    const genS = (performance.now() - t0) / 1000;
    await gen.return();
    if (rep === 0) continue;
    pp.push(o.p / promptS);
    if (o.n > 0) tg.push(o.n / genS);
  }
  const result = {
    engine: "llama.cpp", model: path.resolve(o.m), threads: o.t, n_prompt: o.p, n_gen: o.n,
    reps: o.r, flash_attention: o.fa, pp: stats(pp), tg: tg.length ? stats(tg) : stats([0]),
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    binding: `node-llama-cpp ${JSON.parse(fs.readFileSync(
        path.join(dir, "node_modules", "node-llama-cpp", "package.json"), "utf8")).version}`,
  };
  await context.dispose();
  await model.dispose();
  console.log(JSON.stringify(result));
}

// peaks: threads -> isomer bench --compute-peak's figures (empty: no prompt percentages).
function table(dir, gbs, peaks) {
  // key: model + threads; value: {isomer: {pp: [], tg: [], ...}, "llama.cpp": {...}}
  const rows = new Map();
  const failed = [];
  for (const f of fs.readdirSync(dir).filter(f => /^m\d+-.*\.json$/.test(f)).sort()) {
    let j;
    try {
      j = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
    } catch {
      failed.push(f);  // a run that failed or timed out: no figures
      continue;
    }
    const runs = j.results ? j.results.map(r => ({...r, engine: "isomer"})) : [j];
    for (const r of runs) {
      const key = `${path.resolve(r.model)}\t${r.threads}`;
      if (!rows.has(key)) rows.set(key, {model: r.model, threads: r.threads, n_prompt: r.n_prompt,
                                         n_gen: r.n_gen});
      const row = rows.get(key);
      const e = row[r.engine] ??= {pp: [], tg: [], rss: 0};
      e.pp.push(...r.pp.samples);
      e.tg.push(...r.tg.samples);
      e.rss = Math.max(e.rss, r.peak_rss_bytes);
      if (r.engine === "isomer") Object.assign(row, {description: r.description,
        size: r.size_bytes, bytes_per_token: r.bytes_per_token, params: r.params, type: r.type});
    }
  }
  const f = s => `${s.mean.toFixed(2)} ± ${s.sd.toFixed(2)} (${s.samples.length})`;
  const mib = b => `${(b / 1048576).toFixed(0)}`;
  console.log("| model | size MiB | threads | test | isomer t/s | llama.cpp t/s | isomer / llama.cpp |" +
              " roof isomer | roof llama.cpp | peak RSS MiB isomer / llama.cpp |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of rows.values()) {
    const a = row.isomer, b = row["llama.cpp"];
    if (!a || !b) continue;
    for (const test of ["pp", "tg"]) {
      if (test === "tg" && row.n_gen === 0) continue;
      const sa = stats(a[test]), sb = stats(b[test]);
      const name = test === "pp" ? `pp${row.n_prompt}` : `tg${row.n_gen}`;
      const peak = peaks.get(row.threads);
      const float = /^B?F/.test(row.type);
      const pct = s => test === "tg"
        ? (gbs > 0 ? `${(100 * row.bytes_per_token * s.mean / (gbs * 1e9)).toFixed(1)} %` : "")
        : (peak ? `${(100 * 2 * row.params * s.mean / ((float ? peak.fp32_gflops : peak.int8_gops) * 1e9)).toFixed(1)} %`
                : "");
      console.log(`| ${row.description} (${path.basename(row.model)}) | ${mib(row.size)} | ` +
                  `${row.threads} | ${name} | ${f(sa)} | ${f(sb)} | ` +
                  `${(sa.mean / sb.mean).toFixed(2)} | ${pct(sa)} | ${pct(sb)} | ` +
                  `${mib(a.rss)} / ${mib(b.rss)} |`);
    }
  }
  console.log("\nroof: generation as a share of the bandwidth roofline (weight bytes per token x" +
              " tokens/s / bandwidth); prompt as a share of the CPU's compute peak at that thread" +
              " count (2 operations per parameter and token; f32 peak for F32/F16/BF16 files, int8" +
              " for block types)");
  if (failed.length)
    console.log(`\nruns without figures (failed or timed out): ${failed.join(", ")}`);
}

try {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === "measure") await measure(options(rest));
  else if (cmd === "table") {
    const peaks = new Map();
    if (rest[2]) for (const p of JSON.parse(fs.readFileSync(rest[2], "utf8")).compute_peak) peaks.set(p.threads, p);
    table(rest[0], parseFloat(rest[1] ?? "0"), peaks);
  } else throw new Error("usage: llama-cpp.mjs measure -m FILE ... | table DIR GBS [PEAK.json]");
} catch (e) {
  console.error(`llama-cpp.mjs: ${e.message}`);
  process.exit(1);
}
