// The compare engine: runs the model on each backend/device and writes the report as JSON.
#include <isomer/agreement.h>
#include <isomer/bench.h>
#include <isomer/compare.h>
#include <isomer/error.h>
#include <isomer/model.h>
#include <isomer/sampler.h>
#include <isomer/version.h>

#include "compare/energy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>
#include <sys/utsname.h>
#include <unistd.h>

namespace isomer::compare {
namespace {

using json = nlohmann::json;

// The built-in evaluation text: ordinary English prose of the kind small story models know,
// long enough for a few dozen teacher-forced positions.
constexpr std::string_view kEvalText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park with her friends. One day, she saw a big red ball under a tree. She ran to get it, "
    "but a small dog was there too. The dog looked at Lily and wagged its tail. Lily smiled and "
    "said, \"Let's play together!\" They played all day until the sun went down.";

constexpr double kClearMargin = 0.05;  // a top-1 disagreement counts only where it is clear
constexpr size_t kTopForLogitError = 32;

bool is_block_output(std::string_view name) {
  return name.starts_with("blk.") && name.ends_with(".ffn_resid");
}

// One backend's teacher-forced evaluation and greedy decode.
struct Evaluation {
  std::vector<float> logits;  // [positions, n_vocab]
  std::vector<std::pair<std::string, std::vector<float>>> blocks;
  RunLedger ledger;
  std::vector<std::string> fallbacks;
  uint64_t context_memory = 0;
  std::vector<int32_t> greedy;
  std::vector<float> greedy_margin;  // each greedy choice's logit over the runner-up's
  RunLedger decode_ledger;  // of one generated token
};

Evaluation evaluate(const Model& model, const std::vector<int32_t>& tokens, bool per_layer,
                    size_t greedy_prompt, int greedy_tokens) {
  Evaluation e;
  ContextOptions co;
  co.n_ctx = static_cast<int64_t>(std::max(tokens.size(), greedy_prompt + greedy_tokens));
  if (per_layer) co.keep = is_block_output;
  {
    Context ctx(model, co);
    const auto logits = ctx.eval(tokens, /*all_logits=*/true);
    e.logits.assign(logits.begin(), logits.end());
    e.blocks = ctx.kept();
    e.ledger = ctx.ledger();
    e.fallbacks = ctx.fallbacks();
    e.context_memory = ctx.stats().memory_bytes;
  }
  Context ctx(model, {.n_ctx = co.n_ctx});
  auto logits = ctx.eval(std::span(tokens).first(greedy_prompt));
  for (int i = 0; i < greedy_tokens; ++i) {
    const int32_t next = argmax(logits);
    float second = -INFINITY;
    for (size_t v = 0; v < logits.size(); ++v)
      if (v != static_cast<size_t>(next)) second = std::max(second, logits[v]);
    e.greedy.push_back(next);
    e.greedy_margin.push_back(logits[static_cast<size_t>(next)] - second);
    logits = ctx.eval({&next, 1});
    e.decode_ledger = ctx.ledger();
  }
  return e;
}

// The kept outputs of every node of block `prefix` ("blk.3."), teacher-forced.
std::vector<std::pair<std::string, std::vector<float>>> block_nodes(
    const Model& model, const std::vector<int32_t>& tokens, const std::string& prefix) {
  ContextOptions co;
  co.n_ctx = static_cast<int64_t>(tokens.size());
  co.keep = [&](std::string_view name) { return name.starts_with(prefix); };
  Context ctx(model, co);
  ctx.eval(tokens, /*all_logits=*/true);
  return ctx.kept();
}

json ledger_json(const RunLedger& l) {
  json ops = json::object();
  for (const auto& [op, per_device] : l.ops) {
    json d = json::object();
    for (const auto& [device, n] : per_device) d[device] = n;
    ops[op] = d;
  }
  return {{"ops", ops}, {"splits", l.splits}, {"copies", l.copies}, {"copied_bytes", l.copied_bytes}};
}

json device_json(const DeviceProperties& p) {
  json extra = json::object();
  for (const auto& [k, v] : p.extra) extra[k] = v;
  return {{"id", p.id},       {"name", p.name},
          {"vendor", p.vendor}, {"driver", p.driver},
          {"memory_bytes", p.memory_bytes}, {"compute_units", p.compute_units},
          {"extra", extra}};
}

json stats_json(const bench::Stats& s) {
  return {{"mean", s.mean}, {"sd", s.sd}, {"samples", s.samples}};
}

// The vendor library a device can do matrix products with, as its "kernels" property says
// ("portable, vendor (LIBRARY)"; "portable (vendor: WHY NOT)"), or why there is none.
struct VendorPath {
  std::string library, unavailable;
};
VendorPath vendor_path(const DeviceProperties& d) {
  constexpr std::string_view with = "portable, vendor (", without = "portable (vendor: ";
  for (const auto& [k, v] : d.extra) {
    if (k != "kernels") continue;
    if (v.starts_with(with) && v.ends_with(")")) return {v.substr(with.size(), v.size() - with.size() - 1), ""};
    if (v.starts_with(without) && v.ends_with(")"))
      return {"", "n/a: " + v.substr(without.size(), v.size() - without.size() - 1)};
  }
  return {"", "n/a: this backend has no vendor path"};
}

// Whether the CPU's vendor path (oneDNN: F32, F16 and BF16 weights, backends/cpu/onednn.h) has
// a matrix product to take: a 2-D float weight other than token embeddings that are only
// looked up (they are also the output matrix when output.weight is missing).
bool has_float_matrix(const Model& model) {
  const auto& tensors = model.file().tensors();
  const bool tied = std::none_of(tensors.begin(), tensors.end(), [](const auto& t) { return t.name == "output.weight"; });
  return std::any_of(tensors.begin(), tensors.end(), [&](const gguf::TensorInfo& t) {
    return t.dims.size() == 2 && (t.type == DType::F32 || t.type == DType::F16 || t.type == DType::BF16) &&
           (tied || t.name != "token_embd.weight");
  });
}

// The speed share owed to the vendor library: 1 - t_vendor / t_portable per token, i.e. the
// fraction of the portable kernels' time that the library saves (equally, the fraction of the
// vendor run's tokens/s above the portable one's); 0: no gain, negative: the library is slower.
// Null where a run measured nothing (-n 0).
json vendor_share(const bench::Stats& portable, const bench::Stats& vendor) {
  if (portable.samples.empty() || vendor.samples.empty() || vendor.mean <= 0) return nullptr;
  return 1 - portable.mean / vendor.mean;
}

// The row's "vendor_share": the speed run `portable` repeated with the vendor library.
json vendor_speed(const bench::Params& portable_params, const bench::Result& portable, const std::string& library,
                  const Model& model, const std::function<void(const std::string&)>& say) {
  json out = {{"library", library}, {"pp", nullptr}, {"tg", nullptr}, {"pp_share", nullptr}, {"tg_share", nullptr}};
  if (portable_params.load.backend == "cpu" && !has_float_matrix(model)) {
    out["note"] = fmt::format("n/a: every weight matrix is quantised and {} takes only F32, F16 and BF16 ones "
                              "(it has no GGML block formats), so the vendor path has nothing to accelerate", library);
    return out;
  }
  say(fmt::format("{}: speed with --kernels vendor ({}), {} repetition(s)", portable.device, library,
                  portable_params.reps));
  bench::Params p = portable_params;
  p.load.kernels = KernelChoice::Vendor;
  try {
    const bench::Result v = bench::run(p);
    out["pp"] = stats_json(v.prompt);
    out["tg"] = stats_json(v.generation);
    out["pp_share"] = vendor_share(portable.prompt, v.prompt);
    out["tg_share"] = vendor_share(portable.generation, v.generation);
    out["note"] = "1 - t_vendor / t_portable per token, from the means of the --kernels portable run (the speed "
                  "above) and a --kernels vendor run after it";
  } catch (const Error& e) {
    out["note"] = fmt::format("n/a: the --kernels vendor run failed: {}", e.what());
  }
  return out;
}

std::string first_line_of(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key)) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) return line;
      auto v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json host_json(double bandwidth_gbs, const std::string& bandwidth_note) {
  utsname u{};
  uname(&u);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string cpu = first_line_of("/proc/cpuinfo", "model name");
  if (cpu.empty()) cpu = "unknown";
  return {{"name", host},
          {"cpu", cpu},
          {"cores", std::thread::hardware_concurrency()},
          {"os", fmt::format("{} {} {}", u.sysname, u.release, u.machine)},
          {"bandwidth_gb_per_s", bandwidth_gbs > 0 ? json(bandwidth_gbs) : json(nullptr)},
          {"bandwidth_note", bandwidth_note}};
}

// Backends isomer knows of that this build may lack: a row says so instead of an error.
constexpr std::string_view kPlanned[] = {"vulkan", "cuda", "hip"};

Backend* find_backend(std::string_view name) {
  for (Backend* b : backends())
    if (b->name() == name) return b;
  if (std::find(std::begin(kPlanned), std::end(kPlanned), name) != std::end(kPlanned)) return nullptr;
  backend(name);  // throws, listing the known backends
  return nullptr;
}

}  // namespace

std::string merge_reports(const std::vector<std::string>& reports);
std::vector<std::string> violations(const std::string& text);

std::string_view default_eval_text() { return kEvalText; }

std::vector<std::string> expand_backends(const std::vector<std::string>& spec) {
  std::vector<std::string> out;
  auto add = [&](const std::string& d) {
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  for (const std::string& s : spec) {
    if (s == "all") {
      for (Backend* b : backends()) {
        const auto devices = b->devices();
        if (devices.empty()) add(std::string(b->name()));
        for (const auto& d : devices) add(d.id);
      }
      for (std::string_view planned : kPlanned)
        if (!find_backend(planned)) add(std::string(planned));  // a row saying it is missing
      continue;
    }
    const LoadOptions o = load_options_for(s, 0);
    find_backend(o.backend);  // isomer::Error listing the known backends for an unknown one
    add(s);
  }
  if (out.empty()) fail("compare: no backends given");
  return out;
}

std::string run(const Options& o, const Progress& progress) {
  // Work done, in units of one device's agreement or speed runs (see `units` below).
  double done = 0, units = 1;
  auto say = [&](const std::string& line) {
    if (progress) progress(line, std::min(1.0, done / units));
  };
  std::vector<std::string> devices = expand_backends(o.backends);
  // The reference first, named as its device id ("cpu" and "cpu:0" are one device).
  const std::string reference = expand_backends({o.reference}).front();
  auto same = [](const std::string& a, const std::string& b) {
    auto norm = [](const std::string& s) { return s.find(':') == std::string::npos ? s + ":0" : s; };
    return norm(a) == norm(b);
  };
  std::erase_if(devices, [&](const std::string& d) { return same(d, reference); });
  devices.insert(devices.begin(), reference);
  const double per_device = o.reps > 0 ? 2 : 1;  // agreement, then speed
  units = per_device * static_cast<double>(devices.size());

  const auto ref_model = Model::load(o.model, load_options_for(reference, o.threads));
  const bench::ModelFacts facts = bench::facts(*ref_model);
  // The thresholds: those given, the rest calibrated for the model.
  Calibration limits = calibrated_thresholds(ref_model->file());
  std::vector<std::string> given;
  for (auto [value, field, name] : {std::tuple{o.thresholds.kl, &limits.kl, "kl"},
                                    std::tuple{o.thresholds.top1, &limits.top1, "top1"},
                                    std::tuple{o.thresholds.logit_error, &limits.logit_error, "logit_error"},
                                    std::tuple{o.thresholds.layer_nmse, &limits.layer_nmse, "layer_nmse"}})
    if (value) {
      *field = *value;
      given.emplace_back(name);
    }
  const std::string basis = given.empty() ? "calibrated for " + limits.basis
                                          : fmt::format("given: {}; the rest calibrated for {}",
                                                        fmt::join(given, ", "), limits.basis);
  const std::string text = o.eval_text.empty() ? std::string(kEvalText) : o.eval_text;
  std::vector<int32_t> tokens = ref_model->tokenizer().encode(text, true, false);
  const int64_t max_ctx = std::min<int64_t>(ref_model->config().n_ctx_train, 4096);
  if (static_cast<int64_t>(tokens.size()) > max_ctx) tokens.resize(static_cast<size_t>(max_ctx));
  if (tokens.size() < 2) fail("compare: the evaluation text has {} token(s); it needs at least 2", tokens.size());
  const size_t greedy_prompt = std::min<size_t>(8, tokens.size());
  const int greedy_tokens = static_cast<int>(std::max<int64_t>(
      0, std::min<int64_t>(o.greedy_tokens, max_ctx - static_cast<int64_t>(greedy_prompt))));
  const size_t n_vocab = static_cast<size_t>(ref_model->config().n_vocab);
  std::vector<int32_t> speed_prompt;
  if (!o.prompt_text.empty() && o.n_prompt > 0) {
    const auto t = ref_model->tokenizer().encode(o.prompt_text, true, false);
    if (t.empty()) fail("compare: the prompt text has no tokens");
    for (int i = 0; i < o.n_prompt; ++i) speed_prompt.push_back(t[static_cast<size_t>(i) % t.size()]);
  }

  // Bandwidth for the roofline.
  double gbs = o.bandwidth_gbs;
  std::string bw_note = gbs > 0 ? "given" : "not measured (no speed runs)";
  if (gbs <= 0 && o.reps > 0) {
    const int t = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    say(fmt::format("measuring host read bandwidth ({} MiB, {} threads)", o.bandwidth_mib, t));
    gbs = bench::read_bandwidth(t, uint64_t(o.bandwidth_mib) << 20, 0.5).gb_per_s;
    bw_note = fmt::format("measured: streaming read, {} MiB, {} threads", o.bandwidth_mib, t);
  }

  json report = {
      {"schema", "isomer-compare/1"},
      {"isomer", {{"version", version()}, {"git_commit", git_commit()}}},
      {"created", now_iso()},
      {"hosts", json::array({host_json(gbs, bw_note)})},
      {"model",
       {{"path", facts.path},
        {"sha256", o.hash_model ? json(sha256_file(o.model)) : json(nullptr)},
        {"description", facts.description},
        {"arch", facts.arch},
        {"type", facts.type},
        {"file_bytes", facts.file_bytes},
        {"params", facts.params},
        {"bytes_per_token", facts.bytes_per_token}}},
      {"eval",
       {{"source", o.eval_text.empty() ? "built-in" : "given"},
        {"positions", tokens.size()},
        {"greedy_prompt_tokens", greedy_prompt},
        {"greedy_tokens", greedy_tokens}}},
      {"speed_params",
       {{"n_prompt", o.n_prompt},
        {"n_gen", o.n_gen},
        {"reps", o.reps},
        {"threads", o.threads},
        {"prompt", o.prompt_text.empty() ? "synthetic token ids" : "given text, repeated or cut to n_prompt"}}},
      {"reference", ""},
      {"thresholds",
       {{"kl", limits.kl},
        {"top1", limits.top1},
        {"logit_error", limits.logit_error},
        {"layer_nmse", limits.layer_nmse},
        {"basis", basis}}},
      {"rows", json::array()},
  };
  const std::string host = report["hosts"][0]["name"];

  Evaluation ref;
  std::map<std::string, std::vector<std::pair<std::string, std::vector<float>>>> ref_block_nodes;
  for (size_t k = 0; k < devices.size(); ++k) {
    const std::string& requested = devices[k];
    const bool is_ref = k == 0;
    const LoadOptions lo = load_options_for(requested, o.threads);
    done = per_device * static_cast<double>(k);
    json row = {{"host", host},
                {"requested", requested},
                {"backend", lo.backend},
                {"device", requested},
                {"reference", is_ref},
                {"status", "ok"},
                {"reason", ""},
                {"device_info", nullptr},
                {"vendor_libraries", "n/a: this backend has no vendor path"},
                {"vendor_share", {{"library", nullptr}, {"pp", nullptr}, {"tg", nullptr}, {"pp_share", nullptr},
                                  {"tg_share", nullptr}, {"note", "n/a: the backend did not run"}}},
                {"provenance", nullptr},
                {"agreement", nullptr},
                {"speed", nullptr},
                {"energy", {{"joules", nullptr}, {"note", "n/a: the backend did not run"}}}};
    Backend* b = find_backend(lo.backend);
    if (!b) {
      row["status"] = "unavailable";
      row["reason"] = lo.backend == "vulkan"
                          ? "this build has no Vulkan backend (configured with ISOMER_VULKAN off, or "
                            "without Vulkan headers or glslc)"
                          : fmt::format("this build has no {} backend (planned as a loadable module)", lo.backend);
      say(fmt::format("{}: unavailable: {}", requested, row["reason"].get<std::string>()));
      report["rows"].push_back(row);
      continue;
    }
    const auto available = b->devices();
    if (available.empty()) {
      row["status"] = "unavailable";
      row["reason"] = b->unavailable_reason();
      say(fmt::format("{}: unavailable: {}", requested, b->unavailable_reason()));
      report["rows"].push_back(row);
      continue;
    }
    if (lo.device < 0 || static_cast<size_t>(lo.device) >= available.size()) {
      row["status"] = "unavailable";
      row["reason"] = fmt::format("{} has {} device(s); there is no device {}", lo.backend,
                                  available.size(), lo.device);
      report["rows"].push_back(row);
      continue;
    }
    row["device_info"] = device_json(available[static_cast<size_t>(lo.device)]);
    const VendorPath vendor = vendor_path(available[static_cast<size_t>(lo.device)]);
    row["vendor_libraries"] = vendor.library.empty() ? vendor.unavailable : vendor.library;
    row["vendor_share"]["library"] = vendor.library.empty() ? json(nullptr) : json(vendor.library);
    row["vendor_share"]["note"] = vendor.library.empty() ? vendor.unavailable : "n/a: not measured (-r 0)";
    row["device"] = available[static_cast<size_t>(lo.device)].id;
    if (is_ref) report["reference"] = row["device"];
    say(fmt::format("{}: evaluating {} positions teacher-forced", row["device"].get<std::string>(),
                    tokens.size()));
    try {
      std::unique_ptr<Model> owned;
      const Model* model = ref_model.get();
      if (!is_ref) {
        owned = Model::load(o.model, lo);
        model = owned.get();
      }
      Evaluation e = evaluate(*model, tokens, o.per_layer, greedy_prompt, greedy_tokens);
      json prov = ledger_json(e.ledger);
      prov["fallbacks"] = e.fallbacks;
      prov["decode"] = ledger_json(e.decode_ledger);
      prov["context_memory_bytes"] = e.context_memory;
      row["provenance"] = prov;
      if (is_ref) ref = e;

      // Agreement with the reference.
      const size_t positions = tokens.size();
      std::vector<double> kl(positions);
      int counted = 0, agreed = 0;
      double max_logit_error = 0, kl_sum = 0, kl_max = 0;
      for (size_t i = 0; i < positions; ++i) {
        const auto ref_row = std::span<const float>(ref.logits).subspan(i * n_vocab, n_vocab);
        const auto row_i = std::span<const float>(e.logits).subspan(i * n_vocab, n_vocab);
        const double ref_lse = agreement::log_sum_exp(ref_row);
        // KL over the whole vocabulary; logit error over the reference's top 32.
        const auto full = agreement::top_k(ref_row, n_vocab);
        const auto p = agreement::compare(full, ref_lse, row_i, kClearMargin);
        const auto top = std::span(full).first(std::min(kTopForLogitError, full.size()));
        const auto q = agreement::compare(top, ref_lse, row_i, kClearMargin);
        kl[i] = std::isfinite(p.kl) ? p.kl : 1e30;
        kl_sum += kl[i];
        kl_max = std::max(kl_max, kl[i]);
        max_logit_error = std::max(max_logit_error, std::isfinite(q.max_logit_error) ? q.max_logit_error : 1e30);
        counted += p.counted;
        agreed += p.agreed;
      }
      json ag = {{"positions", positions},
                 {"kl_mean", kl_sum / static_cast<double>(positions)},
                 {"kl_max", kl_max},
                 {"kl_per_position", kl},
                 {"top1", counted ? static_cast<double>(agreed) / counted : 1.0},
                 {"top1_counted", counted},
                 {"top1_agreed", agreed},
                 {"max_logit_error", max_logit_error},
                 {"greedy_tokens", e.greedy.size()},
                 {"first_greedy_divergence", nullptr},
                 {"greedy_divergence_margin", nullptr},
                 {"layers", json::array()},
                 {"first_divergent_layer", nullptr},
                 {"first_divergent_op", nullptr}};
      for (size_t i = 0; i < e.greedy.size() && i < ref.greedy.size(); ++i)
        if (e.greedy[i] != ref.greedy[i]) {
          ag["first_greedy_divergence"] = i;
          ag["greedy_divergence_margin"] = ref.greedy_margin[i];
          break;
        }
      if (o.per_layer) {
        std::string first;
        for (size_t l = 0; l < e.blocks.size() && l < ref.blocks.size(); ++l) {
          const double nmse = agreement::nmse(e.blocks[l].second, ref.blocks[l].second);
          const std::string name = e.blocks[l].first.substr(0, e.blocks[l].first.rfind('.'));
          ag["layers"].push_back({{"name", name}, {"nmse", std::isfinite(nmse) ? nmse : 1e30}});
          if (first.empty() && !(nmse <= limits.layer_nmse)) {
            first = name;
            ag["first_divergent_layer"] = {{"name", name}, {"nmse", std::isfinite(nmse) ? nmse : 1e30}};
          }
        }
        if (!first.empty()) {  // which op of that block diverges first
          const std::string prefix = first + ".";
          say(fmt::format("{}: {} diverges; locating the op", row["device"].get<std::string>(), first));
          if (!ref_block_nodes.count(prefix))
            ref_block_nodes[prefix] = block_nodes(*ref_model, tokens, prefix);
          const auto& rn = ref_block_nodes[prefix];
          const auto bn = block_nodes(*model, tokens, prefix);
          for (const auto& [name, values] : bn) {
            const auto it = std::find_if(rn.begin(), rn.end(), [&](const auto& p) { return p.first == name; });
            if (it == rn.end() || it->second.size() != values.size()) continue;
            const double nmse = agreement::nmse(values, it->second);
            if (!(nmse <= limits.layer_nmse)) {
              ag["first_divergent_op"] = {{"name", name}, {"nmse", std::isfinite(nmse) ? nmse : 1e30}};
              break;
            }
          }
        }
      }
      row["agreement"] = ag;
      done += 1;
      owned.reset();

      row["energy"]["note"] = "n/a: no speed runs (-r 0)";
      if (o.reps > 0) {
        say(fmt::format("{}: speed, {} repetition(s)", row["device"].get<std::string>(), o.reps));
        bench::Params bp{.model = o.model, .load = lo, .context = {}, .n_prompt = o.n_prompt,
                         .n_gen = o.n_gen, .reps = o.reps, .prompt = speed_prompt};
        // Energy of the timed prompt and generation phases, from the device's own counter.
        std::string no_meter;
        auto meter = energy_meter(lo.backend, available[static_cast<size_t>(lo.device)], no_meter);
        double phase_start = 0, prompt_j = 0, gen_j = 0;
        if (meter)
          bp.on_phase = [&](bool prompt, bool begin) {
            const double j = meter->joules();
            if (begin) phase_start = j;
            else (prompt ? prompt_j : gen_j) += j - phase_start;
          };
        // The portable run's warm-up and repetitions; the vendor run, where there is one, after.
        const double step = (vendor.library.empty() ? 1.0 : 0.5) / (o.reps + 1);
        const bench::Result r = bench::run(bp, [&](std::string_view line) {
          done += step;
          say(fmt::format("{}: {}", row["device"].get<std::string>(), line));
        });
        std::vector<double> ttft;
        for (double pp : r.prompt.samples) ttft.push_back(1000.0 * o.n_prompt / pp);
        // The host's bandwidth bounds it.
        const bool host_memory = runs_on_host(lo.backend, available[static_cast<size_t>(lo.device)]);
        json speed = {{"pp", stats_json(r.prompt)},
                      {"tg", stats_json(r.generation)},
                      {"ttft_ms", stats_json(bench::stats(ttft))},
                      {"ttft_note", "prompt evaluation time of the pp runs (the first token's logits)"},
                      {"peak_rss_bytes", r.peak_rss},
                      {"peak_rss_scope", r.peak_rss_of_run ? "run" : "process"},
                      {"device_memory_bytes", lo.backend == "cpu" ? json(nullptr) : json(e.context_memory)},
                      {"roofline_pct", nullptr},
                      {"roofline_note", ""}};
        if (!host_memory) {
          // A device with its own memory: its roof is that memory's bandwidth, measured here.
          try {
            const bench::Bandwidth dbw = bench::device_bandwidth(*backend(lo.backend).open(lo.device, {}),
                                                                     uint64_t(o.bandwidth_mib) << 20);
            speed["device_bandwidth_gb_per_s"] = dbw.gb_per_s;
            if (!r.generation.samples.empty()) {
              speed["roofline_pct"] = 100.0 * static_cast<double>(facts.bytes_per_token) * r.generation.mean / (dbw.gb_per_s * 1e9);
              speed["roofline_note"] = fmt::format(
                  "weight bytes per token × tg tokens/s ÷ {:.1f} GB/s device memory bandwidth (a {} MiB device-to-device "
                  "copy, bytes read + written)", dbw.gb_per_s, dbw.buffer_bytes >> 20);
            } else {
              speed["roofline_note"] = "n/a: no generation runs";
            }
          } catch (const Error& err) {
            speed["roofline_note"] = fmt::format("n/a: the device's memory bandwidth could not be measured: {}", err.what());
          }
        } else if (gbs > 0 && !r.generation.samples.empty()) {
          speed["roofline_pct"] = 100.0 * static_cast<double>(facts.bytes_per_token) * r.generation.mean / (gbs * 1e9);
          speed["roofline_note"] = fmt::format("weight bytes per token × tg tokens/s ÷ {:.2f} GB/s host read bandwidth", gbs);
        } else {
          speed["roofline_note"] = "n/a: no bandwidth";
        }
        row["speed"] = speed;
        if (meter) {
          const double prompt_tokens = double(o.n_prompt) * o.reps, gen_tokens = double(o.n_gen) * o.reps;
          row["energy"] = {{"joules", prompt_j + gen_j},
                           {"prompt_joules_per_token", prompt_j / prompt_tokens},
                           {"generation_joules_per_token", gen_tokens > 0 ? json(gen_j / gen_tokens) : json(nullptr)},
                           {"note", fmt::format("{}, over the timed repetitions", meter->what())}};
        } else {
          row["energy"]["note"] = no_meter;
        }
        bp.on_phase = {};  // the vendor run's energy is not counted
        if (!vendor.library.empty()) row["vendor_share"] = vendor_speed(bp, r, vendor.library, *ref_model, say);
      }
    } catch (const DeviceError& err) {
      row["status"] = "does not fit";
      row["reason"] = err.what();
    } catch (const Error& err) {
      if (is_ref) throw;
      row["status"] = "failed";
      row["reason"] = err.what();
    }
    if (row["status"] != "ok")
      say(fmt::format("{}: {}: {}", requested, row["status"].get<std::string>(), row["reason"].get<std::string>()));
    if (is_ref && row["status"] != "ok")
      fail("compare: the reference {} cannot run the model: {}", requested, row["reason"].get<std::string>());
    report["rows"].push_back(row);
  }
  done = units;
  say("done");
  return report.dump(2);
}

std::string merge(const std::vector<std::string>& reports) {
  try {
    return merge_reports(reports);
  } catch (const json::exception& e) {
    fail("merge: a report lacks what isomer compare writes: {}", e.what());
  }
}

std::string merge_reports(const std::vector<std::string>& reports) {
  if (reports.empty()) fail("merge: no reports");
  json out;
  json notes = json::array();
  for (size_t i = 0; i < reports.size(); ++i) {
    json r;
    try {
      r = json::parse(reports[i]);
    } catch (const json::exception& e) {
      fail("merge: report {} is not JSON: {}", i + 1, e.what());
    }
    if (!r.is_object() || r.value("schema", "") != "isomer-compare/1")
      fail("merge: report {} is not an isomer compare report (schema isomer-compare/1)", i + 1);
    if (i == 0) {
      out = r;
      out["rows"] = json::array();
      out["hosts"] = json::array();
    } else if (r["model"]["sha256"] != out["model"]["sha256"]) {
      notes.push_back(fmt::format("report {} is of another model file ({}, sha256 {})", i + 1,
                                  r["model"]["path"].get<std::string>(), r["model"]["sha256"].dump()));
    }
    for (const auto& h : r["hosts"]) {
      bool seen = false;
      for (const auto& o : out["hosts"]) seen = seen || o == h;
      if (!seen) out["hosts"].push_back(h);
    }
    // One row per device and host: a device measured again (the same report twice, or a re-run)
    // keeps its latest row, and a note says so.
    for (const auto& row : r["rows"]) {
      const auto same = [&](const json& w) { return w["host"] == row["host"] && w["device"] == row["device"]; };
      json& rows = out["rows"];
      const auto it = std::find_if(rows.begin(), rows.end(), same);
      if (it == rows.end()) {
        rows.push_back(row);
        continue;
      }
      *it = row;
      notes.push_back(fmt::format("report {} measured {} on {} again: its row replaces the earlier one", i + 1,
                                  row["device"].get<std::string>(), row["host"].get<std::string>()));
    }
  }
  if (!notes.empty()) out["notes"] = notes;
  return out.dump(2);
}

std::vector<std::string> strict_violations(const std::string& text) {
  try {
    return violations(text);
  } catch (const json::exception& e) {
    fail("strict: a report lacks what isomer compare writes: {}", e.what());
  }
}

std::vector<std::string> violations(const std::string& text) {
  const json r = json::parse(text);
  const json& t = r["thresholds"];
  std::vector<std::string> v;
  for (const auto& row : r["rows"]) {
    const std::string who = fmt::format("{} on {}", row["device"].get<std::string>(), row["host"].get<std::string>());
    if (row["status"] != "ok") {
      v.push_back(fmt::format("{}: {}: {}", who, row["status"].get<std::string>(), row["reason"].get<std::string>()));
      continue;
    }
    const json& p = row["provenance"];
    if (!p["fallbacks"].empty())
      v.push_back(fmt::format("{}: {} fallback(s), first {}", who, p["fallbacks"].size(),
                              p["fallbacks"][0].get<std::string>()));
    const json& a = row["agreement"];
    if (a["kl_max"].get<double>() > t["kl"].get<double>())
      v.push_back(fmt::format("{}: KL {:.3g} over {:.3g}", who, a["kl_max"].get<double>(), t["kl"].get<double>()));
    if (a["top1"].get<double>() < t["top1"].get<double>())
      v.push_back(fmt::format("{}: top-1 {:.4f} under {:.4f}", who, a["top1"].get<double>(), t["top1"].get<double>()));
    if (a["max_logit_error"].get<double>() > t["logit_error"].get<double>())
      v.push_back(fmt::format("{}: logit error {:.3g} over {:.3g}", who, a["max_logit_error"].get<double>(),
                              t["logit_error"].get<double>()));
    // A greedy divergence where the reference's choice led by less than twice the logit-error
    // threshold is a near tie that logits within the threshold can flip: reported, not refused.
    const json margin = a.value("greedy_divergence_margin", json());
    if (!a["first_greedy_divergence"].is_null() &&
        !(margin.is_number() && margin.get<double>() <= 2 * t["logit_error"].get<double>()))
      v.push_back(fmt::format("{}: greedy decoding diverges at token {}{}", who,
                              a["first_greedy_divergence"].get<int>(),
                              margin.is_number() ? fmt::format(", where the reference's choice led by {:.3g}",
                                                               margin.get<double>())
                                                 : ""));
    if (!a["first_divergent_layer"].is_null())
      v.push_back(fmt::format("{}: hidden state diverges at {} (NMSE {:.3g})", who,
                              a["first_divergent_layer"]["name"].get<std::string>(),
                              a["first_divergent_layer"]["nmse"].get<double>()));
  }
  return v;
}

}  // namespace isomer::compare
