// Load a model, stream a greedy generation, read the session's statistics: isomer's C++
// wrapper. Usage: generate_cpp MODEL.gguf [BACKEND] [PROMPT]
#include <isomer/isomer.hpp>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " MODEL.gguf [BACKEND] [PROMPT]\n";
    return 2;
  }
  try {
    isomer::cxx::ModelParams params;
    if (argc > 2) params.backend = argv[2];  // "cpu", "vulkan", ...
    const std::string prompt = argc > 3 ? argv[3] : "Once upon a time";

    isomer::cxx::Model model(argv[1], params);
    isomer::cxx::Session session(model);
    isomer::cxx::Sampler sampler(isomer::cxx::SamplerParams::greedy());  // the same text every run
    std::cout << prompt;
    const int n = session.generate(sampler, prompt, 32, [](std::string_view text) {
      std::cout << text << std::flush;
      return true;  // false would stop the generation
    });
    std::cout << "\n";
    const isomer_session_stats stats = session.stats();
    std::cerr << n << " tokens, prompt " << stats.prompt_tokens_per_second << " tokens/s, generation "
              << stats.decode_tokens_per_second << " tokens/s, " << stats.memory_bytes << " bytes\n";
  } catch (const isomer::cxx::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
