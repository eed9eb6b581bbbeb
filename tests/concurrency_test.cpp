// One model, many sessions on many threads at once, through the C API: every session's greedy
// output must equal the single-threaded one, and memory must stay flat while they run.
// ISOMER_STRESS_SECONDS bounds the run (default 3; CI's ThreadSanitizer job runs it short).
#include <gtest/gtest.h>
#include <isomer/isomer.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "test_data.h"

namespace {

constexpr int kThreads = 8;
constexpr int kSessionsPerThread = 4;
constexpr int kTokens = 12;
const char* const kPrompts[] = {"Once upon a time", "The cat", "Lily and Ben went", "One day, a big"};

std::string greedy(isomer::cxx::Session& session, const std::string& prompt) {
  isomer::cxx::Sampler sampler(isomer::cxx::SamplerParams::greedy());
  session.reset();
  std::string text;
  session.generate(sampler, prompt, kTokens, [&](std::string_view piece) {
    text += piece;
    return true;
  });
  return text;
}

// Resident set size in bytes.
uint64_t rss() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

double stress_seconds() {
  const char* env = std::getenv("ISOMER_STRESS_SECONDS");
  return env && *env ? std::atof(env) : 3.0;
}

TEST(Concurrency, SessionsOnManyThreadsMatchSingleThreaded) {
  isomer::cxx::Model model(isomer::test::model_path("stories260K.gguf").string());
  std::vector<std::string> expected;
  {
    isomer::cxx::Session session(model);
    for (const char* p : kPrompts) expected.push_back(greedy(session, p));
  }

  std::latch first_round(kThreads + 1), measured(1);
  std::atomic<int> mismatches{0}, rounds{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(stress_seconds());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<isomer::cxx::Session> sessions;
      for (int s = 0; s < kSessionsPerThread; ++s) sessions.emplace_back(model);
      auto round = [&](int r) {
        for (int s = 0; s < kSessionsPerThread; ++s) {
          const size_t p = static_cast<size_t>(t + s + r) % std::size(kPrompts);
          if (greedy(sessions[static_cast<size_t>(s)], kPrompts[p]) != expected[p]) ++mismatches;
        }
        ++rounds;
      };
      round(0);
      first_round.arrive_and_wait();
      measured.wait();
      for (int r = 1; r == 1 || std::chrono::steady_clock::now() < deadline; ++r) round(r);
    });
  }
  first_round.arrive_and_wait();
  const uint64_t rss_after_warmup = rss();
  measured.count_down();
  for (auto& th : threads) th.join();
  const uint64_t rss_at_end = rss();

  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GE(rounds.load(), 2 * kThreads);
  // Every session was allocated before the first measurement; rounds after it allocate
  // nothing that lasts.
  EXPECT_LT(rss_at_end, rss_after_warmup + (uint64_t{8} << 20))
      << "RSS grew from " << rss_after_warmup << " to " << rss_at_end << " bytes";
  std::cout << "[stress] " << kThreads << " threads x " << kSessionsPerThread << " sessions: " << rounds.load()
            << " rounds, " << rounds.load() * kSessionsPerThread << " generations of " << kTokens
            << " tokens, RSS " << (rss_after_warmup >> 20) << " -> " << (rss_at_end >> 20) << " MiB\n";
}

}  // namespace
