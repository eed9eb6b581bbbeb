// Renderings of a compare report (its JSON): terminal table, CSV, Markdown and SVG.
#include <isomer/compare.h>
#include <isomer/error.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

namespace isomer::compare {
namespace {

using json = nlohmann::json;

std::string bytes_label(const json& v) {
  if (!v.is_number()) return "n/a";
  const double b = v.get<double>();
  if (b >= 1 << 30) return fmt::format("{:.2f} GiB", b / (1 << 30));
  if (b >= 1 << 20) return fmt::format("{:.2f} MiB", b / (1 << 20));
  if (b >= 1 << 10) return fmt::format("{:.1f} KiB", b / (1 << 10));
  return fmt::format("{:.0f} B", b);
}

std::string stats_label(const json& s, const char* unit, int digits = 2) {
  if (!s.is_object() || s["samples"].empty()) return "n/a";
  return fmt::format("{:.{}f} ± {:.{}f}{}", s["mean"].get<double>(), digits, s["sd"].get<double>(),
                     digits, unit);
}

// Column labels: the device, with the host when the report spans several.
std::vector<std::string> columns(const json& r) {
  const bool hosts = r["hosts"].size() > 1;
  std::vector<std::string> out;
  for (const auto& row : r["rows"]) {
    std::string label = row["device"].get<std::string>();
    if (row["reference"].get<bool>()) label += " (ref)";
    if (hosts) label += " @" + row["host"].get<std::string>();
    out.push_back(label);
  }
  return out;
}

struct Line {
  std::string section, metric;
  std::vector<std::string> values;  // per row
};

int64_t nodes_on(const json& ops, const std::string& device, bool on) {
  int64_t n = 0;
  for (const auto& [op, per] : ops.items())
    for (const auto& [d, count] : per.items())
      if (op != "copy" && (d == device) == on) n += count.get<int64_t>();
  return n;
}

std::vector<Line> lines(const json& r) {
  std::vector<Line> out;
  // Rows that did not run get "-" except in the lines that describe any row.
  const std::set<std::string> any_row = {"status", "reason", "device", "driver", "vendor libraries",
                                         "energy", "host"};
  auto add = [&](const std::string& section, const std::string& metric, auto f) {
    Line l{section, metric, {}};
    for (const auto& row : r["rows"]) {
      if (row["status"] != "ok" && !any_row.count(metric)) {
        l.values.push_back("-");
        continue;
      }
      l.values.push_back(f(row));
    }
    out.push_back(std::move(l));
  };
  add("runs?", "status", [](const json& w) { return w["status"].get<std::string>(); });
  add("runs?", "reason", [](const json& w) {
    const std::string s = w["reason"].get<std::string>();
    return s.empty() ? std::string("-") : s;
  });
  add("runs?", "device", [](const json& w) {
    return w["device_info"].is_null() ? std::string("-") : w["device_info"]["name"].get<std::string>();
  });
  add("runs?", "nodes on device / elsewhere", [](const json& w) {
    const json& ops = w["provenance"]["ops"];
    return fmt::format("{} / {}", nodes_on(ops, w["device"], true), nodes_on(ops, w["device"], false));
  });
  add("runs?", "fallbacks", [](const json& w) { return std::to_string(w["provenance"]["fallbacks"].size()); });
  add("runs?", "splits (prefill / decode)", [](const json& w) {
    return fmt::format("{} / {}", w["provenance"]["splits"].get<int>(), w["provenance"]["decode"]["splits"].get<int>());
  });
  add("runs?", "copied between devices (prefill / decode token)", [](const json& w) {
    return fmt::format("{} / {}", bytes_label(w["provenance"]["copied_bytes"]),
                       bytes_label(w["provenance"]["decode"]["copied_bytes"]));
  });
  add("same answer?", "KL mean / max", [](const json& w) {
    return fmt::format("{:.2e} / {:.2e}", w["agreement"]["kl_mean"].get<double>(), w["agreement"]["kl_max"].get<double>());
  });
  add("same answer?", "KL by position: median / 90th pct / worst (at)", [](const json& w) {
    if (!w["agreement"].contains("kl_per_position")) return std::string("n/a: not in this report");
    std::vector<double> kl = w["agreement"]["kl_per_position"].get<std::vector<double>>();
    if (kl.empty()) return std::string("n/a: no positions");
    const size_t worst = static_cast<size_t>(std::max_element(kl.begin(), kl.end()) - kl.begin());
    const double max = kl[worst];
    std::sort(kl.begin(), kl.end());
    const auto pct = [&](double q) { return kl[static_cast<size_t>(q * static_cast<double>(kl.size() - 1) + 0.5)]; };
    return fmt::format("{:.2e} / {:.2e} / {:.2e} ({})", pct(0.5), pct(0.9), max, worst);
  });
  add("same answer?", "top-1 agreement", [](const json& w) {
    const json& a = w["agreement"];
    return fmt::format("{:.2f} % ({}/{})", 100 * a["top1"].get<double>(), a["top1_agreed"].get<int>(),
                       a["top1_counted"].get<int>());
  });
  add("same answer?", "largest logit error", [](const json& w) {
    return fmt::format("{:.4g}", w["agreement"]["max_logit_error"].get<double>());
  });
  add("same answer?", "greedy: first diverging token", [](const json& w) {
    const json& a = w["agreement"];
    if (a["first_greedy_divergence"].is_null()) return fmt::format("none in {}", a["greedy_tokens"].get<int>());
    const json margin = a.value("greedy_divergence_margin", json());
    return margin.is_number() ? fmt::format("{} (the reference's choice led by {:.3g})",
                                            a["first_greedy_divergence"].get<int>(), margin.get<double>())
                              : a["first_greedy_divergence"].dump();
  });
  add("same answer?", "worst block hidden-state NMSE", [](const json& w) {
    double worst = 0;
    std::string at = "-";
    for (const auto& l : w["agreement"]["layers"])
      if (l["nmse"].get<double>() >= worst) {
        worst = l["nmse"].get<double>();
        at = l["name"].get<std::string>();
      }
    return w["agreement"]["layers"].empty() ? std::string("n/a: not measured") : fmt::format("{:.2e} ({})", worst, at);
  });
  add("same answer?", "first diverging block / op", [](const json& w) {
    const json& a = w["agreement"];
    if (a["first_divergent_layer"].is_null()) return std::string("none");
    return fmt::format("{} / {}", a["first_divergent_layer"]["name"].get<std::string>(),
                       a["first_divergent_op"].is_null() ? std::string("?") : a["first_divergent_op"]["name"].get<std::string>());
  });
  auto speed = [](const json& w, auto f) {
    return w["speed"].is_null() ? std::string("n/a: not measured (-r 0)") : f(w["speed"]);
  };
  add("how fast?", "prompt tokens/s", [&](const json& w) { return speed(w, [](const json& s) { return stats_label(s["pp"], ""); }); });
  add("how fast?", "generation tokens/s", [&](const json& w) { return speed(w, [](const json& s) { return stats_label(s["tg"], ""); }); });
  add("how fast?", "time to first token", [&](const json& w) { return speed(w, [](const json& s) { return stats_label(s["ttft_ms"], " ms", 1); }); });
  add("how fast?", "peak host memory (RSS)", [&](const json& w) {
    return speed(w, [](const json& s) { return bytes_label(s["peak_rss_bytes"]) + " (" + s["peak_rss_scope"].get<std::string>() + ")"; });
  });
  add("how fast?", "device memory (KV + work)", [&](const json& w) {
    return speed(w, [](const json& s) { return s["device_memory_bytes"].is_null() ? std::string("n/a: the CPU uses host memory") : bytes_label(s["device_memory_bytes"]); });
  });
  add("how fast?", "generation % of bandwidth roofline", [&](const json& w) {
    return speed(w, [](const json& s) {
      if (s["roofline_pct"].is_null()) return s["roofline_note"].get<std::string>();
      // A device's own memory: say which bandwidth it is judged against (the host's is in the header).
      return s.contains("device_bandwidth_gb_per_s")
                 ? fmt::format("{:.1f} % of {:.0f} GB/s", s["roofline_pct"].get<double>(), s["device_bandwidth_gb_per_s"].get<double>())
                 : fmt::format("{:.1f} %", s["roofline_pct"].get<double>());
    });
  });
  // The vendor library's run; older reports have no vendor_share.
  auto vendor = [](const json& w, auto f) {
    if (!w.contains("vendor_share")) return std::string("n/a: not in this report");
    const json& v = w["vendor_share"];
    return v["pp"].is_null() ? v["note"].get<std::string>() : f(v);
  };
  add("how fast?", "vendor share (prompt / generation)", [&](const json& w) {
    return vendor(w, [](const json& v) {
      auto pct = [](const json& x) { return x.is_null() ? std::string("n/a") : fmt::format("{:+.1f} %", 100 * x.get<double>()); };
      return fmt::format("{} / {} ({})", pct(v["pp_share"]), pct(v["tg_share"]), v["library"].get<std::string>());
    });
  });
  add("how fast?", "vendor tokens/s (prompt / generation)", [&](const json& w) {
    return vendor(w, [](const json& v) { return stats_label(v["pp"], "") + " / " + stats_label(v["tg"], ""); });
  });
  add("environment", "driver", [](const json& w) {
    return w["device_info"].is_null() ? std::string("-") : w["device_info"]["driver"].get<std::string>();
  });
  add("environment", "vendor libraries", [](const json& w) { return w["vendor_libraries"].get<std::string>(); });
  add("environment", "energy", [](const json& w) {
    const json& e = w["energy"];
    if (e["joules"].is_null()) return e["note"].get<std::string>();
    const json g = e.value("generation_joules_per_token", json());
    return fmt::format("{:.3g} J/token prompt, {} generation ({:.2f} J)", e.value("prompt_joules_per_token", 0.0),
                       g.is_number() ? fmt::format("{:.3g} J/token", g.get<double>()) : "-", e["joules"].get<double>());
  });
  add("environment", "host", [](const json& w) { return w["host"].get<std::string>(); });
  return out;
}

std::vector<std::string> preamble(const json& r) {
  std::vector<std::string> out;
  const json& m = r["model"];
  out.push_back(fmt::format("model: {} ({}, {} bytes, sha256 {})", m["path"].get<std::string>(),
                            m["description"].get<std::string>(), m["file_bytes"].get<uint64_t>(),
                            m["sha256"].is_null() ? "not computed" : m["sha256"].get<std::string>()));
  out.push_back(fmt::format("isomer {} (commit {} at configure time); report of {}",
                            r["isomer"]["version"].get<std::string>(), r["isomer"]["git_commit"].get<std::string>(),
                            r["created"].get<std::string>()));
  for (const auto& h : r["hosts"])
    out.push_back(fmt::format("host {}: {}, {} cores, {}; read bandwidth {}", h["name"].get<std::string>(),
                              h["cpu"].get<std::string>(), h["cores"].get<int>(), h["os"].get<std::string>(),
                              h["bandwidth_gb_per_s"].is_null()
                                  ? h["bandwidth_note"].get<std::string>()
                                  : fmt::format("{:.2f} GB/s ({})", h["bandwidth_gb_per_s"].get<double>(),
                                                h["bandwidth_note"].get<std::string>())));
  const json& e = r["eval"];
  const json& sp = r["speed_params"];
  out.push_back(fmt::format("reference {}; agreement teacher-forced over {} positions of the {} evaluation text, "
                            "greedy decoding {} tokens after its first {}; speed -p {} -n {} -r {}",
                            r["reference"].get<std::string>(), e["positions"].get<int>(), e["source"].get<std::string>(),
                            e["greedy_tokens"].get<int>(), e["greedy_prompt_tokens"].get<int>(),
                            sp["n_prompt"].get<int>(), sp["n_gen"].get<int>(), sp["reps"].get<int>()));
  if (r.contains("notes"))
    for (const auto& n : r["notes"]) out.push_back("note: " + n.get<std::string>());
  return out;
}

// op × device: nodes of each op that ran on each device, summed over the rows' prefill graphs.
std::string histogram_text(const json& r, bool markdown) {
  std::string out;
  const auto cols = columns(r);
  for (size_t i = 0; i < r["rows"].size(); ++i) {
    const json& row = r["rows"][i];
    if (row["status"] != "ok") continue;
    const json& ops = row["provenance"]["ops"];
    std::set<std::string> devices;
    for (const auto& [op, per] : ops.items())
      for (const auto& [d, n] : per.items()) devices.insert(d);
    out += fmt::format("\n{}op × device, {} (nodes of the teacher-forced evaluation):\n", markdown ? "" : "", cols[i]);
    if (markdown) {
      out += "\n| op |";
      for (const auto& d : devices) out += " " + d + " |";
      out += "\n| --- |";
      for (size_t k = 0; k < devices.size(); ++k) out += " ---: |";
      out += "\n";
    }
    for (const auto& [op, per] : ops.items()) {
      out += markdown ? fmt::format("| {} |", op) : fmt::format("  {:<12}", op);
      for (const auto& d : devices)
        out += markdown ? fmt::format(" {} |", per.value(d, 0)) : fmt::format(" {:>6} {}", per.value(d, 0), d);
      out += "\n";
    }
    const json& fb = row["provenance"]["fallbacks"];
    if (!fb.empty()) {
      out += fmt::format("{}fallbacks ({}), each with the device's reason:\n", markdown ? "\n" : "  ", fb.size());
      for (const auto& f : fb) out += fmt::format("{}{}\n", markdown ? "- " : "    ", f.get<std::string>());
    }
  }
  return out;
}

std::string xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string svg(const json& r) {
  const auto cols = columns(r);
  const size_t n = cols.size();
  const int left = 220, bar_h = 14, group_h = 3 * bar_h + 12, panel_w = 360;
  const int panel_h = static_cast<int>(n) * group_h + 40;
  const int curve_h = 160;  // panel 3: KL at each position
  const int width = left + 2 * panel_w + 60, height = 80 + 2 * panel_h + 40 + curve_h + 60;
  double max_tps = 0, max_roof = 0;
  for (const auto& row : r["rows"])
    if (!row["speed"].is_null()) {
      max_tps = std::max({max_tps, row["speed"]["pp"]["mean"].get<double>(), row["speed"]["tg"]["mean"].get<double>()});
      if (!row["speed"]["roofline_pct"].is_null()) max_roof = std::max(max_roof, row["speed"]["roofline_pct"].get<double>());
    }
  max_roof = std::max(max_roof, 100.0);
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, width, height);
  s += fmt::format("<text x=\"10\" y=\"20\" font-size=\"16\" font-weight=\"bold\">isomer compare: {}</text>\n",
                   xml(r["model"]["description"].get<std::string>()));
  s += fmt::format("<text x=\"10\" y=\"40\">reference {}; {} positions teacher-forced</text>\n",
                   xml(r["reference"].get<std::string>()), r["eval"]["positions"].get<int>());
  // Panel 1: tokens/s (prompt, generation) and % roofline.
  int y0 = 70;
  s += fmt::format("<g id=\"speed\"><text x=\"{}\" y=\"{}\" font-weight=\"bold\">tokens/s (prompt, generation; mean ± sd)</text>\n", left, y0);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">generation % of bandwidth roofline</text>\n", left + panel_w + 30, y0);
  for (size_t i = 0; i < n; ++i) {
    const json& row = r["rows"][i];
    const int y = y0 + 15 + static_cast<int>(i) * group_h;
    s += fmt::format("<text x=\"10\" y=\"{}\">{}</text>\n", y + bar_h, xml(cols[i]));
    if (row["speed"].is_null()) {
      s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#888\">{}</text>\n", left, y + bar_h,
                       xml(row["status"] == "ok" ? std::string("not measured") : row["status"].get<std::string>() + ": " + row["reason"].get<std::string>()));
      continue;
    }
    int k = 0;
    for (const char* series : {"pp", "tg"}) {
      const json& st = row["speed"][series];
      const double v = st["mean"].get<double>();
      const double w = max_tps > 0 ? (panel_w - 80) * v / max_tps : 0;
      const int yy = y + k * (bar_h + 2);
      s += fmt::format("<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{} {} {:.2f} ± {:.2f} tokens/s</title></rect>\n",
                       series, left, yy, w, bar_h, k == 0 ? "#4e79a7" : "#f28e2b", xml(cols[i]), series, v, st["sd"].get<double>());
      s += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{} {:.1f}</text>\n", left + w + 4, yy + bar_h - 3, series, v);
      ++k;
    }
    const json& roof = row["speed"]["roofline_pct"];
    if (roof.is_null()) {
      s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#888\">{}</text>\n", left + panel_w + 30, y + bar_h,
                       xml(row["speed"]["roofline_note"].get<std::string>()));
    } else {
      const double w = (panel_w - 80) * roof.get<double>() / max_roof;
      s += fmt::format("<rect class=\"roofline\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#59a14f\"/>\n", left + panel_w + 30, y, w, bar_h);
      s += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{:.1f} %</text>\n", left + panel_w + 34 + w, y + bar_h - 3, roof.get<double>());
    }
  }
  s += "</g>\n";
  // Panel 2: agreement with the reference.
  y0 += panel_h + 20;
  s += fmt::format("<g id=\"agreement\"><text x=\"{}\" y=\"{}\" font-weight=\"bold\">largest KL from the reference (log scale, threshold dashed)</text>\n", left, y0);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">top-1 agreement %</text>\n", left + panel_w + 30, y0);
  const double kl_thr = r["thresholds"]["kl"].get<double>();
  auto kl_x = [&](double kl) {  // 1e-12 .. 1e2 over the panel
    const double l = std::log10(std::max(kl, 1e-12));
    return left + (panel_w - 80) * (std::clamp(l, -12.0, 2.0) + 12.0) / 14.0;
  };
  s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" stroke=\"#e15759\" stroke-dasharray=\"4 3\"/>\n",
                   kl_x(kl_thr), kl_x(kl_thr), y0 + 8, y0 + panel_h - 20);
  for (size_t i = 0; i < n; ++i) {
    const json& row = r["rows"][i];
    const int y = y0 + 15 + static_cast<int>(i) * group_h;
    s += fmt::format("<text x=\"10\" y=\"{}\">{}</text>\n", y + bar_h, xml(cols[i]));
    if (row["agreement"].is_null()) {
      s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#888\">{}</text>\n", left, y + bar_h, xml(row["status"].get<std::string>()));
      continue;
    }
    const json& a = row["agreement"];
    const double kl = a["kl_max"].get<double>();
    s += fmt::format("<rect class=\"kl\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>KL max {:.3g}</title></rect>\n",
                     left, y, kl_x(kl) - left, bar_h, kl > kl_thr ? "#e15759" : "#76b7b2", kl);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{:.2e}</text>\n", kl_x(kl) + 4, y + bar_h - 3, kl);
    const double t1 = 100 * a["top1"].get<double>();
    s += fmt::format("<rect class=\"top1\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#9c755f\"/>\n",
                     left + panel_w + 30, y, (panel_w - 80) * t1 / 100, bar_h);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{:.1f} %</text>\n", left + panel_w + 34 + (panel_w - 80) * t1 / 100, y + bar_h - 3, t1);
    if (!a["first_divergent_layer"].is_null())
      s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#e15759\">diverges at {}</text>\n", left, y + 2 * bar_h + 4,
                       xml(a["first_divergent_op"].is_null() ? a["first_divergent_layer"]["name"].get<std::string>()
                                                             : a["first_divergent_op"]["name"].get<std::string>()));
  }
  s += "</g>\n";
  // Panel 3: KL at each teacher-forced position, one line per compared device (log scale), so
  // that a divergence that grows along the text shows apart from one bad position.
  y0 += panel_h + 20;
  const int plot_w = 2 * panel_w - 50, top = y0 + 10;
  s += fmt::format("<g id=\"kl-positions\"><text x=\"{}\" y=\"{}\" font-weight=\"bold\">KL from the reference at each position "
                   "(log scale, 1e-12 to 1e2; threshold dashed)</text>\n", left, y0);
  auto kl_y = [&](double kl) {
    const double l = std::clamp(std::log10(std::max(kl, 1e-12)), -12.0, 2.0);
    return top + curve_h * (2.0 - l) / 14.0;
  };
  s += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e15759\" stroke-dasharray=\"4 3\"/>\n",
                   left, left + plot_w, kl_y(kl_thr), kl_y(kl_thr));
  constexpr const char* kColours[] = {"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2"};
  int legend = 0;
  for (size_t i = 0; i < n; ++i) {
    const json& row = r["rows"][i];
    if (row["agreement"].is_null() || row["reference"].get<bool>()) continue;
    const json& kl = row["agreement"]["kl_per_position"];
    if (kl.empty()) continue;
    const char* colour = kColours[legend % std::size(kColours)];
    std::string points;
    for (size_t p = 0; p < kl.size(); ++p)
      points += fmt::format("{}{:.1f},{:.1f}", p ? " " : "",
                            left + (kl.size() > 1 ? plot_w * static_cast<double>(p) / static_cast<double>(kl.size() - 1) : 0.0),
                            kl_y(kl[p].get<double>()));
    s += fmt::format("<polyline class=\"kl-position\" fill=\"none\" stroke=\"{}\" points=\"{}\"><title>{}</title></polyline>\n",
                     colour, points, xml(cols[i]));
    s += fmt::format("<text x=\"10\" y=\"{}\" fill=\"{}\">{}</text>\n", top + 14 + 16 * legend, colour, xml(cols[i]));
    ++legend;
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#888\">position 0 to {}</text>\n", left, top + curve_h + 16,
                   r["eval"]["positions"].get<int>() - 1);
  s += "</g>\n</svg>\n";
  return s;
}

}  // namespace

std::string render(const std::string& text, Format format) {
  const json r = json::parse(text);
  const auto cols = columns(r);
  const auto ls = lines(r);
  std::string out;
  switch (format) {
    case Format::Table: {
      for (const auto& p : preamble(r)) out += p + "\n";
      // Widths in characters (UTF-8 continuation bytes take no column).
      auto width_of = [](const std::string& v) {
        return static_cast<size_t>(std::count_if(v.begin(), v.end(), [](char c) {
          return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        }));
      };
      size_t metric_w = 0;
      for (const auto& l : ls) metric_w = std::max(metric_w, l.metric.size());
      std::vector<size_t> w(cols.size());
      for (size_t i = 0; i < cols.size(); ++i) {
        w[i] = width_of(cols[i]);
        for (const auto& l : ls) w[i] = std::max(w[i], width_of(l.values[i]));
        w[i] = std::min<size_t>(w[i], 40);
      }
      auto cell = [&](const std::string& v, size_t width) {
        std::string c = v;
        if (width_of(c) > width) {  // cut at a character boundary, mark the cut
          size_t bytes = 0, chars = 0;
          while (bytes < c.size() && chars < width - 1) {
            ++bytes;
            while (bytes < c.size() && (static_cast<unsigned char>(c[bytes]) & 0xC0) == 0x80) ++bytes;
            ++chars;
          }
          c = c.substr(0, bytes) + "~";
        }
        return c + std::string(width - width_of(c), ' ');
      };
      std::string section;
      std::string header = std::string(metric_w + 2, ' ');
      for (size_t i = 0; i < cols.size(); ++i) header += "  " + cell(cols[i], w[i]);
      out += "\n" + header.substr(0, header.find_last_not_of(' ') + 1) + "\n";
      for (const auto& l : ls) {
        if (l.section != section) {
          section = l.section;
          out += section + "\n";
        }
        std::string line = "  " + l.metric + std::string(metric_w - l.metric.size(), ' ');
        for (size_t i = 0; i < cols.size(); ++i) line += "  " + cell(l.values[i], w[i]);
        out += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
      }
      out += histogram_text(r, false);
      break;
    }
    case Format::Markdown: {
      out += "# isomer compare\n\n";
      for (const auto& p : preamble(r)) out += "- " + p + "\n";
      out += "\n| | metric |";
      for (const auto& c : cols) out += " " + c + " |";
      out += "\n| --- | --- |";
      for (size_t i = 0; i < cols.size(); ++i) out += " --- |";
      out += "\n";
      for (const auto& l : ls) {
        out += fmt::format("| {} | {} |", l.section, l.metric);
        for (const auto& v : l.values) {
          std::string e;
          for (char c : v) e += c == '|' ? std::string("\\|") : std::string(1, c);
          out += " " + e + " |";
        }
        out += "\n";
      }
      out += histogram_text(r, true);
      break;
    }
    case Format::Csv: {
      out += "host,device,reference,section,metric,value\n";
      for (const auto& l : ls)
        for (size_t i = 0; i < cols.size(); ++i) {
          const json& row = r["rows"][i];
          out += fmt::format("{},{},{},{},{},{}\n", csv_field(row["host"].get<std::string>()),
                             csv_field(row["device"].get<std::string>()), row["reference"].get<bool>() ? 1 : 0,
                             csv_field(l.section), csv_field(l.metric), csv_field(l.values[i]));
        }
      break;
    }
    case Format::Svg: out = svg(r); break;
  }
  return out;
}

}  // namespace isomer::compare
